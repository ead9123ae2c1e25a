"""Conformance with TF of FakeQuantWithMinMaxArgs/Vars/VarsPerChannel (bit for bit), MatrixBandPart,
the MatrixDiag/MatrixDiagPart family (every k and align) and LRN (issue 17), and their errors.
"""
import numpy as np
import pytest

import tfcheck
from tfcheck import check_against_tf, rng


def _f32(shape, seed=0, scale=3.0):
    return (rng(seed).standard_normal(shape) * scale).astype(np.float32)


# ---- FakeQuant ----------------------------------------------------------------------------------

# (min, max) pairs: symmetric, asymmetric with a nudged zero point, all-positive and all-negative
# ranges (zero point clamped), and a tiny range.
FAKE_QUANT_RANGES = [(-6.0, 6.0), (-1.3, 4.7), (0.25, 3.0), (-2.5, -0.5), (-0.01, 0.02)]


def _fake_quant_input(shape, seed):
    x = _f32(shape, seed, 4.0)
    x.flat[:3] = [np.nan, 100.0, -100.0]
    return x


@pytest.mark.parametrize("num_bits,narrow", [(8, False), (8, True), (4, False), (2, True), (16, False)])
def test_fake_quant_args_and_vars(num_bits, narrow):
    tf = tfcheck._tf()
    x = _fake_quant_input((4, 5, 6), 25)

    def build(x):
        outs = []
        for lo, hi in FAKE_QUANT_RANGES:
            outs.append(tf.quantization.fake_quant_with_min_max_args(
                x, min=lo, max=hi, num_bits=num_bits, narrow_range=narrow))
            outs.append(tf.quantization.fake_quant_with_min_max_vars(
                x, tf.constant(lo), tf.constant(hi), num_bits=num_bits, narrow_range=narrow))
        outs.append(tf.quantization.fake_quant_with_min_max_vars(x, tf.constant(0.0), tf.constant(0.0)))
        return outs
    check_against_tf(build, {"x": x}, tol=0.0, stem=f"more_fq_{num_bits}_{int(narrow)}")


@pytest.mark.parametrize("rank", [1, 2, 3, 4])
def test_fake_quant_per_channel(rank):
    tf = tfcheck._tf()
    depth = len(FAKE_QUANT_RANGES) + 1
    shape = (2, 3, 4, depth)[4 - rank:]
    x = _fake_quant_input(shape, 26)
    mins = np.array([r[0] for r in FAKE_QUANT_RANGES] + [0.0], np.float32)
    maxs = np.array([r[1] for r in FAKE_QUANT_RANGES] + [0.0], np.float32)  # last: all zeros

    def build(x, lo, hi):
        f = tf.quantization.fake_quant_with_min_max_vars_per_channel
        return [f(x, lo, hi), f(x, lo, hi, num_bits=5, narrow_range=True)]
    check_against_tf(build, {"x": x, "lo": mins, "hi": maxs}, tol=0.0, stem=f"more_fq_pc_{rank}")


def test_fake_quant_fed_range_and_dynamic_batch():
    tf = tfcheck._tf()
    check_against_tf(
        lambda x, lo, hi: tf.quantization.fake_quant_with_min_max_vars(x, lo[0], hi[0]) + 1.0,
        {"x": _fake_quant_input((3, 8), 27), "lo": np.float32([-0.7, 0]), "hi": np.float32([1.9, 0])},
        dynamic_batch=True, tol=0.0, stem="more_fq_dyn")


def test_fake_quant_bad_attributes():
    tf = tfcheck._tf()
    feeds = {"x": np.zeros((2, 3), np.float32)}
    build = lambda x: tf.quantization.fake_quant_with_min_max_args(x, -1.0, 1.0)  # noqa: E731
    tfcheck.expect_pbmem_error(build, {"x": (np.float32, (2, 3))}, feeds, "bad_fq_bits", "num_bits", "17",
                  mutate=lambda g: tfcheck.find_node(g, "FakeQuantWithMinMaxArgs").attr["num_bits"].__setattr__("i", 17))
    tfcheck.expect_pbmem_error(build, {"x": (np.float32, (2, 3))}, feeds, "bad_fq_range", "'min'", "'max'",
                  mutate=lambda g: tfcheck.find_node(g, "FakeQuantWithMinMaxArgs").attr["min"].__setattr__("f", 2.0))


def test_fake_quant_per_channel_bad_range_shape():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda x, lo, hi: tf.quantization.fake_quant_with_min_max_vars_per_channel(x, lo, hi),
                  {"x": (np.float32, (2, None)), "lo": (np.float32, (None,)), "hi": (np.float32, (None,))},
                  {"x": np.zeros((2, 3), np.float32), "lo": -np.ones(4, np.float32),
                   "hi": np.ones(4, np.float32)}, "bad_fq_pc", "min", "last dim")


# ---- MatrixBandPart / MatrixDiag / MatrixDiagPart / LRN -----------------------------------------

def test_matrix_band_part():
    tf = tfcheck._tf()
    x = _f32((2, 4, 5), 28)
    i = np.arange(30, dtype=np.int64).reshape(5, 6)

    def build(x, i, lo):
        band = tf.linalg.band_part
        return [band(x, 0, -1), band(x, -1, 0), band(x, 1, 2), band(x, 0, 0), band(x, -1, -1),
                band(x, 4, 5), band(i, 2, 0), band(i, lo, 1), band(x[0], 3, 1)]
    check_against_tf(build, {"x": x, "i": i, "lo": np.int64(1)}, stem="more_band")


def test_matrix_diag_and_diag_part():
    tf = tfcheck._tf()
    d = _f32((2, 3, 4), 29)
    m = _f32((2, 4, 3), 30)
    b = np.array([True, False, True])

    def build(d, m, b):
        return [tf.linalg.diag(d), tf.linalg.diag(d[0, 0]), tf.linalg.diag(b),
                tf.linalg.diag(d, num_rows=6), tf.linalg.diag(d, num_cols=5, padding_value=-1.0),
                tf.linalg.diag_part(m), tf.linalg.diag_part(tf.transpose(m, [0, 2, 1])),
                tf.linalg.diag_part(m[0]), tf.linalg.diag_part(m, padding_value=2.0),
                tf.raw_ops.MatrixDiag(diagonal=d), tf.raw_ops.MatrixDiagPart(input=m),
                tf.raw_ops.MatrixDiagV2(diagonal=d, k=0, num_rows=-1, num_cols=-1, padding_value=3.0),
                tf.raw_ops.MatrixDiagPartV2(input=m, k=0, padding_value=0.0)]
    check_against_tf(build, {"d": d, "m": m, "b": b}, stem="more_diag")


def test_matrix_diag_dynamic_batch():
    tf = tfcheck._tf()
    check_against_tf(lambda d: tf.linalg.diag_part(tf.linalg.diag(d) * 2.0), {"d": _f32((3, 5), 31)},
                     dynamic_batch=True, stem="more_diag_dyn")


ALIGNS = ["RIGHT_LEFT", "LEFT_RIGHT", "LEFT_LEFT", "RIGHT_RIGHT"]


@pytest.mark.parametrize("align", ALIGNS)
def test_matrix_diag_bands(align):
    """Several diagonals (k = [lower, upper]) and single off-diagonals, packed with `align`."""
    tf = tfcheck._tf()
    m = _f32((2, 4, 6), 34)
    tall = np.arange(30, dtype=np.int32).reshape(6, 5)
    band = _f32((2, 3, 4), 35)   # k = [-1, 1] of a 4 x 4 (or 4 x 5) matrix
    band2 = _f32((4, 3), 36)     # k = [1, 4] of a 3 x 7 matrix: max_diag_len 3

    def build(m, tall, band, band2):
        part = lambda x, k, p=0: tf.linalg.diag_part(x, k=k, padding_value=p, align=align)  # noqa: E731
        diag = lambda d, k, **kw: tf.linalg.diag(d, k=k, align=align, **kw)  # noqa: E731
        return [part(m, (-2, 3)), part(m, 2), part(m, -3), part(m, (0, 5), 9.0), part(m, (-3, -1)),
                part(tall, (-4, 1), -1), part(tall, 3), part(tall, (-5, -5)),
                diag(band, (-1, 1)), diag(band, (-1, 1), num_cols=5), diag(band, (-1, 1), num_rows=6),
                diag(band, (-1, 1), padding_value=7.0), diag(band2, (1, 4)), diag(band2, (1, 4), num_rows=3),
                diag(band[0, 0], 2), diag(band[0, 0], -1, num_cols=4), diag(band[0], (-2, 0))]
    check_against_tf(build, {"m": m, "tall": tall, "band": band, "band2": band2},
                     stem=f"more_diag_band_{align}")


def test_matrix_diag_v2_packs_left():
    tf = tfcheck._tf()
    m = _f32((3, 5), 37)
    d = _f32((3, 4), 38)
    check_against_tf(
        lambda m, d: [tf.raw_ops.MatrixDiagPartV2(input=m, k=[-1, 2], padding_value=0.5),
                      tf.raw_ops.MatrixDiagV2(diagonal=d, k=[-1, 1], num_rows=-1, num_cols=-1,
                                              padding_value=0.0)],
        {"m": m, "d": d}, stem="more_diag_v2")


def test_matrix_diag_bad_band():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda d: tf.linalg.diag(d, k=(-1, 1)), {"d": (np.float32, None)},
                  {"d": np.zeros((2, 2, 3), np.float32)}, "bad_diag_band", "3 diagonals")
    tfcheck.expect_pbmem_error(lambda x, k: tf.linalg.diag_part(x, k=k), {"x": (np.float32, (3, 4)), "k": (np.int32, (2,))},
                  {"x": np.zeros((3, 4), np.float32), "k": np.array([2, -1], np.int32)}, "bad_diag_k",
                  "'k' must be a constant")


@pytest.mark.parametrize("k,fragment", [([0, 4], "out of range"), ([2, -1], "must not exceed"),
                                         ([0, 1, 2], "1 or 2 entries")])
def test_matrix_diag_part_bad_k(k, fragment):
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda x: tf.linalg.diag_part(x, k=(0, 1)), {"x": (np.float32, None)},
                  {"x": np.zeros((3, 4), np.float32)}, f"bad_diag_part_k{len(k)}{k[0]}", fragment,
                  mutate=lambda g: next(n for n in g.node if n.op == "Const" and "k" in n.name)
                  .attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.array(k, np.int32))))


def test_matrix_band_part_bad_bound():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda x, lo: tf.linalg.band_part(x, lo, -1), {"x": (np.float32, (3, 4)), "lo": (np.int32, ())},
                  {"x": np.zeros((3, 4), np.float32), "lo": np.int32(4)}, "bad_band", "num_lower", "rows")


def test_lrn():
    tf = tfcheck._tf()
    x = _f32((2, 5, 6, 16), 32, 2.0)

    def build(x):
        lrn = tf.nn.local_response_normalization
        return [lrn(x), lrn(x, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75),
                lrn(x, depth_radius=0, bias=1.0, alpha=0.5, beta=1.0),
                lrn(x, depth_radius=20, bias=0.5, alpha=0.1, beta=0.3),
                lrn(x[..., :3], depth_radius=1)]
    check_against_tf(build, {"x": x}, dynamic_batch=True, stem="more_lrn")


def test_lrn_bad_radius():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda x: tf.nn.local_response_normalization(x), {"x": (np.float32, (1, 2, 2, 3))},
                  {"x": np.zeros((1, 2, 2, 3), np.float32)}, "bad_lrn", "depth_radius",
                  mutate=lambda g: tfcheck.find_node(g, "LRN").attr["depth_radius"].__setattr__("i", -1))
