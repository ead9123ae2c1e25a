"""Conformance with TF of the ops of issue 17 that compute element-wise or along one axis:
Sin/Cos/Atan2/IsNan/IsFinite/ClipByValue/Mod/BroadcastTo, Cumsum, OneHot and Roll, their bad-input
errors, an in-place chain and constant folding of every new op. The block rearrangements are in
test_ops_space.py, FakeQuant/Matrix*/LRN in test_ops_quant_matrix.py.

One graph per op (and dtype) computes all of its cases at once, to keep the suite fast.
"""
import numpy as np
import pytest

import tfcheck
from tfcheck import check_against_tf, rng


def _f32(shape, seed=0, scale=3.0):
    return (rng(seed).standard_normal(shape) * scale).astype(np.float32)


# ---- elementwise ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sin_cos_isnan_isfinite(dtype):
    tf = tfcheck._tf()
    x = _f32((3, 4, 5), seed=1, scale=10.0).astype(dtype)
    x.flat[:4] = [np.nan, np.inf, -np.inf, -0.0]
    big = np.linspace(-1e4, 1e4, 50000).astype(dtype)  # large enough to run on several threads
    check_against_tf(
        lambda x, big: [tf.sin(x), tf.cos(x), tf.math.is_nan(x), tf.math.is_finite(x),
                        tf.sin(big), tf.cos(big), tf.math.is_nan(big), tf.sin(x[0, 0, 0])],
        {"x": x, "big": big}, stem=f"more_trig_{np.dtype(dtype).name}")


def test_atan2_broadcast_and_signed_zeros():
    tf = tfcheck._tf()
    y = np.array([0.0, -0.0, 0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 2.0], np.float32)
    x = np.array([0.0, 0.0, -0.0, -0.0, -1.0, -1.0, np.inf, 3.0, 1.0, np.inf], np.float32)
    check_against_tf(
        lambda y, x, a, b: [tf.math.atan2(y, x), tf.math.atan2(a, b), tf.math.atan2(a, 2.0)],
        {"y": y, "x": x, "a": _f32((2, 3, 4), 2), "b": _f32((3, 1), 3)}, stem="more_atan2")


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_mod_truncates_like_c(dtype):
    tf = tfcheck._tf()
    g = rng(4)
    if np.dtype(dtype).kind == "f":
        a = (np.round(g.standard_normal((4, 6)) * 8) / 2).astype(dtype)
        b = (g.choice([-1, 1], (6,)) * g.uniform(0.5, 3, (6,))).astype(dtype)
    else:
        a = g.integers(-20, 21, (4, 6)).astype(dtype)
        a.flat[0] = np.iinfo(dtype).min
        b = (g.choice([-1, 1], (6,)) * g.integers(1, 7, (6,))).astype(dtype)
        b[0] = -1  # INT_MIN % -1 is 0 in TF (and traps in C)
    check_against_tf(
        lambda a, b: [tf.raw_ops.Mod(x=a, y=b), tf.raw_ops.TruncateMod(x=a, y=b),
                      tf.raw_ops.Mod(x=a, y=b[2])],
        {"a": a, "b": b}, stem=f"more_mod_{np.dtype(dtype).name}")


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64])
def test_clip_by_value(dtype):
    tf = tfcheck._tf()
    t = _f32((3, 4, 5), 5, 4.0).astype(dtype)
    lo = _f32((3, 4, 5), 6, 2.0).astype(dtype)
    hi = (lo + 3).astype(dtype)
    if np.dtype(dtype).kind == "f":
        t.flat[0] = np.nan
    scalar = lambda v: np.asarray(v, dtype)  # noqa: E731

    def build(t, lo, hi, s_lo, s_hi):
        clip = tf.raw_ops.ClipByValue
        return [clip(t=t, clip_value_min=s_lo, clip_value_max=s_hi),
                clip(t=t, clip_value_min=lo, clip_value_max=hi),
                clip(t=t, clip_value_min=lo, clip_value_max=s_hi),
                clip(t=t, clip_value_min=s_hi, clip_value_max=s_lo)]  # min > max: min wins
    check_against_tf(build, {"t": t, "lo": lo, "hi": hi, "s_lo": scalar(-1), "s_hi": scalar(2)},
                     stem=f"more_clip_{np.dtype(dtype).name}")


def test_clip_by_value_nan_bounds():
    tf = tfcheck._tf()
    t = np.array([np.nan, 1.0, 5.0, -3.0], np.float32)
    nan = np.float32(np.nan)
    check_against_tf(
        lambda t, n: [tf.raw_ops.ClipByValue(t=t, clip_value_min=n, clip_value_max=3.0),
                      tf.raw_ops.ClipByValue(t=t, clip_value_min=-1.0, clip_value_max=n)],
        {"t": t, "n": nan}, stem="more_clip_nan")


def test_clip_by_value_dynamic_batch():
    tf = tfcheck._tf()
    check_against_tf(lambda x: tf.clip_by_value(x, -0.5, 0.5) * 2.0, {"x": _f32((3, 4, 8), 7)},
                     dynamic_batch=True, stem="more_clip_dyn")


def test_broadcast_to():
    tf = tfcheck._tf()
    ints = np.arange(6, dtype=np.int64).reshape(2, 1, 3)
    check_against_tf(
        lambda v, m, s, i, b: [tf.broadcast_to(v, [4, 3]), tf.broadcast_to(m, [2, 5, 4, 3]),
                               tf.broadcast_to(s, [2, 2]), tf.broadcast_to(i, [2, 4, 3]),
                               tf.broadcast_to(b, [3, 2]), tf.broadcast_to(m, [0, 4, 3]),
                               tf.broadcast_to(v, tf.constant([2, 4, 3], tf.int64)),
                               tf.broadcast_to(m, tf.shape(m))],
        {"v": _f32((3,), 8), "m": _f32((4, 1), 9), "s": np.float32(2.5), "i": ints,
         "b": np.array([True, False])}, stem="more_broadcast_to")


def test_broadcast_to_dynamic_batch():
    tf = tfcheck._tf()
    check_against_tf(lambda x: tf.broadcast_to(x, tf.shape(x) * [1, 3, 1]),
                     {"x": _f32((2, 1, 4), 10)}, dynamic_batch=True, stem="more_broadcast_dyn")


# ---- Cumsum --------------------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["Cumsum", "Cumprod"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_cumsum_cumprod(op, dtype):
    tf = tfcheck._tf()
    low, high = (-9, 10) if op == "Cumsum" else (-3, 4)  # products stay exact in float32
    x = (rng(11).integers(low, high, (3, 4, 5)) if np.dtype(dtype).kind == "i"
         else _f32((3, 4, 5), 11, 1.0 if op == "Cumprod" else 3.0)).astype(dtype)
    cases = [(axis, ex, rev) for axis in (0, 1, 2, -1, -3) for ex in (False, True)
             for rev in (False, True)]
    fn = getattr(tf.raw_ops, op)

    def build(x, v):
        outs = [fn(x=x, axis=tf.constant(a, tf.int32), exclusive=e, reverse=r) for a, e, r in cases]
        outs.append(fn(x=x, axis=tf.constant(1, tf.int64)))
        outs.append(fn(x=v, axis=0, exclusive=True, reverse=True))
        return outs
    check_against_tf(build, {"x": x, "v": x[0, 0]}, stem=f"more_{op}_{np.dtype(dtype).name}")


def test_cumsum_fed_axis_and_large():
    tf = tfcheck._tf()
    big = _f32((2, 300, 64), 12, 1.0)
    check_against_tf(lambda x, a, big: [tf.math.cumsum(x, axis=a), tf.math.cumsum(big, axis=1)],
                     {"x": _f32((4, 6), 13), "a": np.int32(-1), "big": big}, stem="more_cumsum_fed")


def test_cumsum_bad_axis():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda x, a: tf.math.cumsum(x, axis=a), {"x": (np.float32, (2, 3)), "a": (np.int32, ())},
                  {"x": np.zeros((2, 3), np.float32), "a": np.int32(2)}, "bad_cumsum_axis",
                  "axis", "out of range")


# ---- OneHot --------------------------------------------------------------------------------------

def test_one_hot():
    tf = tfcheck._tf()
    idx = np.array([[0, 2, -1], [3, 1, 7]], np.int32)  # -1 and 7 are outside [0, 4): all off

    def build(i, i64, u8):
        return [tf.one_hot(i, 4), tf.one_hot(i, 4, axis=0), tf.one_hot(i, 4, axis=1),
                tf.one_hot(i, 4, on_value=5.0, off_value=-1.0, axis=-1),
                tf.one_hot(i64, 3, on_value=7, off_value=2, dtype=tf.int32, axis=1),
                tf.one_hot(u8, 5, on_value=True, off_value=False, dtype=tf.bool),
                tf.one_hot(i[0, 0], 3), tf.one_hot(i, 0), tf.one_hot(i64, 2, dtype=tf.int64),
                tf.one_hot(tf.cast(i, tf.int8), 4, axis=0, dtype=tf.float64)]
    check_against_tf(build, {"i": idx, "i64": idx.astype(np.int64)[:, ::-1].copy(),
                             "u8": np.array([0, 4, 9, 2], np.uint8)}, stem="more_one_hot")


def test_one_hot_dynamic_batch():
    tf = tfcheck._tf()
    check_against_tf(lambda i: tf.one_hot(i, 10) * 2.0, {"i": np.array([[1, 9], [0, 3], [5, 5]], np.int64)},
                     dynamic_batch=True, stem="more_one_hot_dyn")


def test_one_hot_bad_axis():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda i: tf.one_hot(i, 3), {"i": (np.int32, (2,))}, {"i": np.zeros((2,), np.int32)},
                  "bad_one_hot_axis", "axis", "-2",
                  mutate=lambda g: tfcheck.find_node(g, "OneHot").attr["axis"].__setattr__("i", -2))


def test_one_hot_negative_depth():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda i, d: tf.one_hot(i, d), {"i": (np.int32, (2,)), "d": (np.int32, ())},
                  {"i": np.zeros((2,), np.int32), "d": np.int32(-3)}, "bad_one_hot_depth", "depth")


# ---- Roll ----------------------------------------------------------------------------------------

def test_roll():
    tf = tfcheck._tf()
    x = _f32((3, 4, 5), 14)

    def build(x, v, i, s):
        return [tf.roll(x, 2, 0), tf.roll(x, -1, 2), tf.roll(x, [1, -3], [1, 2]),
                tf.roll(x, [7, 2, -9], [0, 1, -1]), tf.roll(x, [1, 1], [2, 2]),
                tf.roll(v, 0, 0), tf.roll(v, 13, 0), tf.roll(i, [1, 1], [0, 1]),
                tf.roll(x, s, 1)]
    check_against_tf(build, {"x": x, "v": _f32((6,), 15),
                             "i": np.arange(12, dtype=np.int64).reshape(3, 4), "s": np.int32(-5)},
                     stem="more_roll")


def test_roll_dynamic_batch_and_fed_axis():
    tf = tfcheck._tf()
    check_against_tf(lambda x, a: tf.roll(x, [1, -2], a), {"x": _f32((2, 5, 3), 16),
                                                          "a": np.array([1, 0], np.int64)},
                     dynamic_batch=True, stem="more_roll_dyn")


def test_roll_bad_axis():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda x, a: tf.roll(x, 1, a), {"x": (np.float32, (2, 3)), "a": (np.int32, ())},
                  {"x": np.zeros((2, 3), np.float32), "a": np.int32(-3)}, "bad_roll_axis",
                  "axis", "out of range")


# ---- bad elementwise inputs ----------------------------------------------------------------------

def test_integer_mod_by_zero_is_an_error():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda a, b: tf.raw_ops.Mod(x=a, y=b), {"a": (np.int32, (3,)), "b": (np.int32, (3,))},
                  {"a": np.ones(3, np.int32), "b": np.array([1, 0, 2], np.int32)}, "bad_mod_zero",
                  "division by zero")


def test_clip_by_value_bound_shape_is_checked():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda t, lo: tf.raw_ops.ClipByValue(t=t, clip_value_min=lo, clip_value_max=1.0),
                  {"t": (np.float32, (2, 3)), "lo": (np.float32, (3,))},
                  {"t": np.zeros((2, 3), np.float32), "lo": np.zeros(3, np.float32)}, "bad_clip_shape",
                  "clip_value_min", "scalar")


def test_broadcast_to_incompatible_shape():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda x: tf.broadcast_to(x, [2, 4]), {"x": (np.float32, None)},
                  {"x": np.zeros((2, 3), np.float32)}, "bad_broadcast_to", "cannot broadcast")


def test_isnan_of_ints_is_an_error():
    tf = tfcheck._tf()

    def retype(graph_def):  # IsNan straight on the int32 placeholder (TF only builds float)
        node = tfcheck.find_node(graph_def, "IsNan")
        node.input[0] = "x"
        node.attr["T"].type = tf.int32.as_datatype_enum
    tfcheck.expect_pbmem_error(lambda x: tf.math.is_nan(tf.cast(x, tf.float32)), {"x": (np.int32, (3,))},
                  {"x": np.zeros(3, np.int32)}, "bad_isnan_int", "IsNan", "int32", mutate=retype)

def test_in_place_chain():
    """Each op reads an arena tensor that dies at it, so the planner runs it in place."""
    tf = tfcheck._tf()

    def build(x, lo, hi):
        y = tf.sin(x * 1.5)
        y = tf.cos(y + 0.5)
        y = tf.math.atan2(y * 2.0, x)
        y = tf.raw_ops.Mod(x=y * 3.0, y=tf.constant(0.7))
        y = tf.raw_ops.ClipByValue(t=y - 0.1, clip_value_min=tf.constant(-0.4), clip_value_max=tf.constant(0.45))
        y = tf.quantization.fake_quant_with_min_max_args(y * 4.0, -1.0, 2.0)
        y = tf.quantization.fake_quant_with_min_max_vars(y + 0.3, lo[0], hi[0], num_bits=6)
        return tf.quantization.fake_quant_with_min_max_vars_per_channel(y - 0.2, lo, hi)
    x = _f32((2, 6, 6, 4), 33, 2.0)
    check_against_tf(build, {"x": x, "lo": np.float32([-1.5, -1, -0.2, 0]), "hi": np.float32([1.5, 2, 0.9, 3])},
                     dynamic_batch=True, stem="more_in_place")


def test_roll_shift_and_axis_shapes_must_match():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda x, s, a: tf.roll(x, s, a),
                  {"x": (np.float32, (2, 3)), "s": (np.int32, (None,)), "a": (np.int32, (None,))},
                  {"x": np.zeros((2, 3), np.float32), "s": np.array([1, 2], np.int32),
                   "a": np.array([0], np.int32)}, "bad_roll_shapes", "same shape")


def test_cumsum_of_a_scalar_is_an_error():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda x: tf.math.cumsum(x, 0), {"x": (np.float32, None)},
                  {"x": np.float32(1.0)}, "bad_cumsum_scalar", "at least 1-D")

def test_ops_on_constants_fold():
    """Every new op with constant inputs is evaluated at load/prepare time (constant folding)."""
    tf = tfcheck._tf()

    def build(x):
        c = tf.constant(_f32((2, 4, 4, 4), 40))
        m = tf.constant(_f32((3, 4), 41))
        folded = [tf.roll(c, [1, -2], [1, 3]), tf.math.cumsum(c, axis=2, exclusive=True),
                  tf.one_hot(tf.constant([1, 3, -1]), 4), tf.broadcast_to(m[0], [3, 4]),
                  tf.nn.depth_to_space(c, 2), tf.space_to_batch_nd(c, [2, 2], [[0, 0], [0, 0]]),
                  tf.linalg.band_part(m, 1, 0), tf.linalg.diag(m), tf.linalg.diag_part(m, k=(-1, 1)),
                  tf.quantization.fake_quant_with_min_max_args(c), tf.nn.local_response_normalization(c),
                  tf.raw_ops.ClipByValue(t=c, clip_value_min=tf.constant(-0.5), clip_value_max=tf.constant(0.5)),
                  tf.sin(c), tf.math.is_nan(c), tf.raw_ops.Mod(x=c, y=tf.constant(0.3))]
        return [tf.logical_or(f, x > 0) if f.dtype == tf.bool else f + tf.cast(x, f.dtype)
                for f in folded]
    check_against_tf(build, {"x": np.zeros((), np.int32)}, stem="more_folded")
