"""Conformance with TF of the ops of issue 17: Sin/Cos/Atan2/IsNan/IsFinite/ClipByValue/Mod/
BroadcastTo, Cumsum, OneHot and Roll, and their bad-input errors.

One graph per op (and dtype) computes all of its cases at once, to keep the suite fast.
"""
import numpy as np
import pytest

import tfcheck
from tfcheck import check_against_tf, rng


def _f32(shape, seed=0, scale=3.0):
    return (rng(seed).standard_normal(shape) * scale).astype(np.float32)


def _graph_only(build_fn, specs, stem, mutate=None):
    """Builds a graph without running TF (for graphs TF itself rejects at run time), after
    `mutate(graph_def)` if given (for attributes TF rejects when building).
    specs: name -> (numpy dtype, shape with None for unknown dims). Returns (path, output names)."""
    tf = tfcheck._tf()
    graph = tf.Graph()
    with graph.as_default():
        phs = {n: tf.compat.v1.placeholder(tf.as_dtype(d), shape=s, name=n)
               for n, (d, s) in specs.items()}
        outs = build_fn(**phs)
        if not isinstance(outs, (list, tuple)):
            outs = [outs]
        outs = [tf.identity(o, name=f"out{i}") for i, o in enumerate(outs)]
    graph_def = graph.as_graph_def()
    if mutate is not None:
        mutate(graph_def)
    path = tfcheck.save_graph_bytes(graph_def.SerializeToString(), stem)
    return path, [o.name for o in outs]


def _node(graph_def, op):
    return next(n for n in graph_def.node if n.op == op)


def _expect_error(build_fn, specs, feeds, stem, *fragments, mutate=None):
    import pbmem
    path, names = _graph_only(build_fn, specs, stem, mutate)
    with pytest.raises(pbmem.Error) as err:
        pbmem.load(path).run(feeds, outputs=names)
    message = str(err.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "node '" in message, message
    return message


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

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_cumsum(dtype):
    tf = tfcheck._tf()
    x = (rng(11).integers(-9, 10, (3, 4, 5)) if np.dtype(dtype).kind == "i"
         else _f32((3, 4, 5), 11)).astype(dtype)
    cases = [(axis, ex, rev) for axis in (0, 1, 2, -1, -3) for ex in (False, True)
             for rev in (False, True)]

    def build(x, v):
        outs = [tf.raw_ops.Cumsum(x=x, axis=tf.constant(a, tf.int32), exclusive=e, reverse=r)
                for a, e, r in cases]
        outs.append(tf.math.cumsum(x, axis=tf.constant(1, tf.int64)))
        outs.append(tf.math.cumsum(v, exclusive=True, reverse=True))
        return outs
    check_against_tf(build, {"x": x, "v": x[0, 0]}, stem=f"more_cumsum_{np.dtype(dtype).name}")


def test_cumsum_fed_axis_and_large():
    tf = tfcheck._tf()
    big = _f32((2, 300, 64), 12, 1.0)
    check_against_tf(lambda x, a, big: [tf.math.cumsum(x, axis=a), tf.math.cumsum(big, axis=1)],
                     {"x": _f32((4, 6), 13), "a": np.int32(-1), "big": big}, stem="more_cumsum_fed")


def test_cumsum_bad_axis():
    tf = tfcheck._tf()
    _expect_error(lambda x, a: tf.math.cumsum(x, axis=a), {"x": (np.float32, (2, 3)), "a": (np.int32, ())},
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
    _expect_error(lambda i: tf.one_hot(i, 3), {"i": (np.int32, (2,))}, {"i": np.zeros((2,), np.int32)},
                  "bad_one_hot_axis", "axis", "-2",
                  mutate=lambda g: _node(g, "OneHot").attr["axis"].__setattr__("i", -2))


def test_one_hot_negative_depth():
    tf = tfcheck._tf()
    _expect_error(lambda i, d: tf.one_hot(i, d), {"i": (np.int32, (2,)), "d": (np.int32, ())},
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
    _expect_error(lambda x, a: tf.roll(x, 1, a), {"x": (np.float32, (2, 3)), "a": (np.int32, ())},
                  {"x": np.zeros((2, 3), np.float32), "a": np.int32(-3)}, "bad_roll_axis",
                  "axis", "out of range")


# ---- bad elementwise inputs ----------------------------------------------------------------------

def test_integer_mod_by_zero_is_an_error():
    tf = tfcheck._tf()
    _expect_error(lambda a, b: tf.raw_ops.Mod(x=a, y=b), {"a": (np.int32, (3,)), "b": (np.int32, (3,))},
                  {"a": np.ones(3, np.int32), "b": np.array([1, 0, 2], np.int32)}, "bad_mod_zero",
                  "division by zero")


def test_clip_by_value_bound_shape_is_checked():
    tf = tfcheck._tf()
    _expect_error(lambda t, lo: tf.raw_ops.ClipByValue(t=t, clip_value_min=lo, clip_value_max=1.0),
                  {"t": (np.float32, (2, 3)), "lo": (np.float32, (3,))},
                  {"t": np.zeros((2, 3), np.float32), "lo": np.zeros(3, np.float32)}, "bad_clip_shape",
                  "clip_value_min", "scalar")


def test_broadcast_to_incompatible_shape():
    tf = tfcheck._tf()
    _expect_error(lambda x: tf.broadcast_to(x, [2, 4]), {"x": (np.float32, None)},
                  {"x": np.zeros((2, 3), np.float32)}, "bad_broadcast_to", "cannot broadcast")


def test_isnan_of_ints_is_an_error():
    tf = tfcheck._tf()

    def retype(graph_def):  # IsNan straight on the int32 placeholder (TF only builds float)
        node = _node(graph_def, "IsNan")
        node.input[0] = "x"
        node.attr["T"].type = tf.int32.as_datatype_enum
    _expect_error(lambda x: tf.math.is_nan(tf.cast(x, tf.float32)), {"x": (np.int32, (3,))},
                  {"x": np.zeros(3, np.int32)}, "bad_isnan_int", "IsNan", "int32", mutate=retype)


# ---- DepthToSpace / SpaceToDepth / SpaceToBatchND / BatchToSpaceND --------------------------------

def test_depth_to_space_and_back():
    tf = tfcheck._tf()
    x = _f32((2, 3, 4, 12), 17)
    ints = np.arange(2 * 4 * 6 * 3, dtype=np.int32).reshape(2, 4, 6, 3)
    check_against_tf(
        lambda x, i: [tf.nn.depth_to_space(x, 2), tf.nn.depth_to_space(x[..., :9], 3),
                      tf.nn.space_to_depth(tf.nn.depth_to_space(x, 2), 2),
                      tf.nn.space_to_depth(i, 2), tf.nn.space_to_depth(i[:, :3, :3], 3)],
        {"x": x, "i": ints}, stem="more_depth_space")


def test_depth_to_space_dynamic_batch():
    tf = tfcheck._tf()
    check_against_tf(lambda x: tf.nn.space_to_depth(tf.nn.depth_to_space(x, 2) * 2.0, 4),
                     {"x": _f32((2, 4, 4, 16), 18)}, dynamic_batch=True, stem="more_depth_space_dyn")


def test_space_to_batch_nd_and_back():
    tf = tfcheck._tf()
    x = _f32((2, 5, 6, 3), 19)
    v = _f32((3, 7, 2), 20)
    r5 = np.arange(2 * 4 * 3 * 2 * 2, dtype=np.int64).reshape(2, 4, 3, 2, 2)

    def build(x, v, r5):
        s2b = tf.space_to_batch_nd
        b2s = tf.compat.v1.batch_to_space_nd
        y = s2b(x, [2, 3], [[1, 2], [0, 0]])
        return [y, b2s(y, [2, 3], [[1, 2], [0, 0]]), s2b(x, [1, 2], [[0, 0], [1, 1]]),
                s2b(v, [3], [[1, 1]]), b2s(s2b(v, [3], [[2, 0]]), [3], [[1, 1]]),
                s2b(r5, [2, 3, 2], [[0, 0], [0, 0], [0, 0]]),
                b2s(tf.reshape(x, [6, 5, 2, 3]), [3, 2], [[2, 1], [0, 3]])]
    check_against_tf(build, {"x": x, "v": v, "r5": r5}, stem="more_space_batch")


def test_atrous_conv_and_dilated_conv1d():
    """DeepLab's atrous conv (SpaceToBatchND -> Conv2D -> BatchToSpaceND) and a dilated Conv1D."""
    tf = tfcheck._tf()
    filters = _f32((3, 3, 4, 5), 21, 0.3)
    f1d = _f32((3, 4, 6), 22, 0.3)

    def build(x, s):
        return [tf.nn.atrous_conv2d(x, filters, rate=2, padding="SAME"),
                tf.nn.atrous_conv2d(x, filters, rate=3, padding="VALID"),
                tf.nn.convolution(s, f1d, padding="SAME", dilations=[2])]
    check_against_tf(build, {"x": _f32((2, 9, 10, 4), 23), "s": _f32((2, 11, 4), 24)},
                     dynamic_batch=True, stem="more_atrous")


def test_space_to_batch_bad_padding():
    tf = tfcheck._tf()
    _expect_error(lambda x: tf.space_to_batch_nd(x, [2, 2], [[0, 1], [0, 0]]),
                  {"x": (np.float32, (1, None, 4, 1))}, {"x": np.zeros((1, 4, 4, 1), np.float32)},
                  "bad_s2b_pad", "divisible")


def test_batch_to_space_bad_batch():
    tf = tfcheck._tf()
    _expect_error(lambda x: tf.compat.v1.batch_to_space_nd(x, [2, 2], [[0, 0], [0, 0]]),
                  {"x": (np.float32, (None, 2, 2, 1))}, {"x": np.zeros((3, 2, 2, 1), np.float32)},
                  "bad_b2s_batch", "divisible")


def test_depth_to_space_bad_depth():
    tf = tfcheck._tf()
    _expect_error(lambda x: tf.nn.depth_to_space(x, 2), {"x": (np.float32, (1, 2, 2, None))},
                  {"x": np.zeros((1, 2, 2, 6), np.float32)}, "bad_d2s_depth", "divisible")


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
    _expect_error(build, {"x": (np.float32, (2, 3))}, feeds, "bad_fq_bits", "num_bits", "17",
                  mutate=lambda g: _node(g, "FakeQuantWithMinMaxArgs").attr["num_bits"].__setattr__("i", 17))
    _expect_error(build, {"x": (np.float32, (2, 3))}, feeds, "bad_fq_range", "'min'", "'max'",
                  mutate=lambda g: _node(g, "FakeQuantWithMinMaxArgs").attr["min"].__setattr__("f", 2.0))


def test_fake_quant_per_channel_bad_range_shape():
    tf = tfcheck._tf()
    _expect_error(lambda x, lo, hi: tf.quantization.fake_quant_with_min_max_vars_per_channel(x, lo, hi),
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
    _expect_error(lambda d: tf.linalg.diag(d, k=(-1, 1)), {"d": (np.float32, None)},
                  {"d": np.zeros((2, 2, 3), np.float32)}, "bad_diag_band", "3 diagonals")
    _expect_error(lambda x, k: tf.linalg.diag_part(x, k=k), {"x": (np.float32, (3, 4)), "k": (np.int32, (2,))},
                  {"x": np.zeros((3, 4), np.float32), "k": np.array([2, -1], np.int32)}, "bad_diag_k",
                  "'k' must be a constant")


@pytest.mark.parametrize("k,fragment", [([0, 4], "out of range"), ([2, -1], "must not exceed"),
                                         ([0, 1, 2], "1 or 2 entries")])
def test_matrix_diag_part_bad_k(k, fragment):
    tf = tfcheck._tf()
    _expect_error(lambda x: tf.linalg.diag_part(x, k=(0, 1)), {"x": (np.float32, None)},
                  {"x": np.zeros((3, 4), np.float32)}, f"bad_diag_part_k{len(k)}{k[0]}", fragment,
                  mutate=lambda g: next(n for n in g.node if n.op == "Const" and "k" in n.name)
                  .attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.array(k, np.int32))))


def test_matrix_band_part_bad_bound():
    tf = tfcheck._tf()
    _expect_error(lambda x, lo: tf.linalg.band_part(x, lo, -1), {"x": (np.float32, (3, 4)), "lo": (np.int32, ())},
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
    _expect_error(lambda x: tf.nn.local_response_normalization(x), {"x": (np.float32, (1, 2, 2, 3))},
                  {"x": np.zeros((1, 2, 2, 3), np.float32)}, "bad_lrn", "depth_radius",
                  mutate=lambda g: _node(g, "LRN").attr["depth_radius"].__setattr__("i", -1))


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
    _expect_error(lambda x, s, a: tf.roll(x, s, a),
                  {"x": (np.float32, (2, 3)), "s": (np.int32, (None,)), "a": (np.int32, (None,))},
                  {"x": np.zeros((2, 3), np.float32), "s": np.array([1, 2], np.int32),
                   "a": np.array([0], np.int32)}, "bad_roll_shapes", "same shape")


def test_cumsum_of_a_scalar_is_an_error():
    tf = tfcheck._tf()
    _expect_error(lambda x: tf.math.cumsum(x, 0), {"x": (np.float32, None)},
                  {"x": np.float32(1.0)}, "bad_cumsum_scalar", "at least 1-D")


def test_space_to_batch_v1():
    """The v1 ops of older graphs: a 4-D input and a square block_size attribute."""
    tf = tfcheck._tf()
    x = _f32((2, 5, 6, 3), 39)

    def build(x):
        y = tf.raw_ops.SpaceToBatch(input=x, paddings=[[1, 2], [0, 2]], block_size=2)
        return [y, tf.raw_ops.BatchToSpace(input=y, crops=[[1, 2], [0, 2]], block_size=2),
                tf.raw_ops.SpaceToBatch(input=x, paddings=tf.constant([[2, 2], [0, 0]], tf.int64), block_size=3),
                tf.raw_ops.BatchToSpace(input=tf.reshape(x, [18, 5, 2, 1]), crops=[[0, 1], [2, 0]], block_size=3)]
    check_against_tf(build, {"x": x}, stem="more_space_batch_v1")


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


@pytest.mark.parametrize("pads,fragment", [([[2 ** 62, 2 ** 62], [0, 0]], "overflows"),
                                           ([[-1, 1], [0, 0]], "non-negative")])
def test_space_to_batch_bad_paddings(pads, fragment):
    tf = tfcheck._tf()

    def set_pads(graph_def):
        node = next(n for n in graph_def.node if n.op == "Const" and "paddings" in n.name)
        node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.array(pads, np.int64)))
        node.attr["dtype"].type = tf.int64.as_datatype_enum
        _node(graph_def, "SpaceToBatchND").attr["Tpaddings"].type = tf.int64.as_datatype_enum
    _expect_error(lambda x: tf.space_to_batch_nd(x, [2, 2], [[0, 0], [0, 0]]), {"x": (np.float32, None)},
                  {"x": np.zeros((1, 4, 4, 1), np.float32)}, f"bad_s2b_{fragment}", fragment, mutate=set_pads)
