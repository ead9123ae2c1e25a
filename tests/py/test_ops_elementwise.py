"""Conformance of the elementwise ops (src/kernels/elementwise_*.cc) with TF: binary ops over
every broadcast pattern the kernels special-case (same shape, scalar, per-channel, [N,1,1,C] x
[N,H,W,C]) and the general ones ([3,1]x[1,4], [2,1,3]x[4,1], rank 0, rank 5, size-0 dims),
Select/SelectV2, AddN, the unary math ops, and their runtime errors.

One graph per (op, dtype) computes the op on all broadcast cases at once, to keep the suite fast.
"""
import numpy as np
import pytest

import tfcheck
from tfcheck import check_against_tf, rng

# (shape of a, shape of b) pairs; each becomes one output of the per-op graph.
BROADCAST_CASES = [
    ((2, 3, 4), (2, 3, 4)),           # same shape
    ((), (2, 3)),                      # scalar on the left
    ((2, 3), ()),                      # scalar on the right
    ((), ()),                          # rank 0
    ((3, 1), (1, 4)),                  # outer product
    ((2, 1, 3), (4, 1)),               # different ranks, both broadcast
    ((2, 5, 5, 8), (8,)),              # per-channel vector (BiasAdd-like)
    ((2, 1, 1, 8), (2, 3, 3, 8)),      # squeeze-excite scale
    ((2, 3, 3, 8), (2, 3, 3, 1)),      # per-pixel scalar
    ((2, 1, 3, 1, 2), (1, 2, 1, 4, 1)),  # rank 5, alternating
    ((0, 3), (1, 3)),                  # size-0 dim
    ((4, 0), (4, 1)),                  # size-0 inner dim
]

BINARY_FLOAT_OPS = ["Add", "AddV2", "Sub", "Mul", "RealDiv", "Div", "FloorDiv", "FloorMod",
                    "Maximum", "Minimum", "Pow", "SquaredDifference", "DivNoNan", "Greater",
                    "GreaterEqual", "Less", "LessEqual", "Equal", "NotEqual"]
BINARY_INT_OPS = ["Add", "AddV2", "Sub", "Mul", "Div", "FloorDiv", "FloorMod", "Maximum",
                  "Minimum", "Pow", "SquaredDifference", "Greater", "GreaterEqual", "Less",
                  "LessEqual", "Equal", "NotEqual"]
DIVISIONS = {"RealDiv", "Div", "FloorDiv", "FloorMod"}


def _float_operands(op, shape_a, shape_b, seed):
    g = rng(seed)
    if op == "Pow":
        return (g.uniform(0.5, 2.0, shape_a).astype(np.float32),
                g.uniform(-2.0, 2.0, shape_b).astype(np.float32))
    # Half-integers so comparisons see ties and FloorDiv/FloorMod see exact multiples.
    a = (np.round(g.standard_normal(shape_a) * 4) / 2).astype(np.float32)
    if op in DIVISIONS:
        b = (g.choice([-1.0, 1.0], shape_b) * g.uniform(0.5, 2.0, shape_b)).astype(np.float32)
    elif op == "DivNoNan":
        b = g.choice([0.0, 0.5, -2.0, 3.0], shape_b).astype(np.float32)
    else:
        b = (np.round(g.standard_normal(shape_b) * 4) / 2).astype(np.float32)
    return a, b


def _int_operands(op, shape_a, shape_b, dtype, seed):
    g = rng(seed)
    if op == "Pow":
        return (g.integers(-3, 4, shape_a).astype(dtype), g.integers(0, 6, shape_b).astype(dtype))
    a = g.integers(-20, 21, shape_a).astype(dtype)
    if op in DIVISIONS:
        b = (g.choice([-1, 1], shape_b) * g.integers(1, 7, shape_b)).astype(dtype)
    else:
        b = g.integers(-5, 6, shape_b).astype(dtype)
    return a, b


def _binary_graph(op, cases):
    """build_fn and inputs computing `op` on every (a, b) pair of `cases`."""
    tf = tfcheck._tf()
    fn = getattr(tf.raw_ops, op)

    def build(**phs):
        return [fn(x=phs[f"a{i}"], y=phs[f"b{i}"]) for i in range(len(cases))]
    return build


@pytest.mark.parametrize("op", BINARY_FLOAT_OPS)
def test_binary_float32(op):
    inputs = {}
    for i, (sa, sb) in enumerate(BROADCAST_CASES):
        inputs[f"a{i}"], inputs[f"b{i}"] = _float_operands(op, sa, sb, seed=i)
    check_against_tf(_binary_graph(op, BROADCAST_CASES), inputs, stem=f"ew_{op}_f32")


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("op", BINARY_INT_OPS)
def test_binary_int(op, dtype):
    cases = BROADCAST_CASES[:8]
    inputs = {}
    for i, (sa, sb) in enumerate(cases):
        inputs[f"a{i}"], inputs[f"b{i}"] = _int_operands(op, sa, sb, dtype, seed=i)
    check_against_tf(_binary_graph(op, cases), inputs, stem=f"ew_{op}_{np.dtype(dtype).name}")


@pytest.mark.parametrize("op", ["Add", "Mul", "Maximum", "RealDiv", "Less"])
def test_binary_float64(op):
    cases = [((2, 3), (3,)), ((), (4,))]
    inputs = {}
    for i, (sa, sb) in enumerate(cases):
        a, b = _float_operands(op, sa, sb, seed=i)
        inputs[f"a{i}"], inputs[f"b{i}"] = a.astype(np.float64), b.astype(np.float64)
    check_against_tf(_binary_graph(op, cases), inputs, stem=f"ew_{op}_f64")


def test_binary_large_parallel():
    """Big enough to be split across threads; per-channel and squeeze-excite patterns."""
    g = rng(5)
    x = g.standard_normal((4, 16, 16, 64)).astype(np.float32)
    c = g.standard_normal((64,)).astype(np.float32)
    se = g.standard_normal((4, 1, 1, 64)).astype(np.float32)
    check_against_tf(lambda x, c, se: [x + c, x * se, x - 1.5, x * x],
                     {"x": x, "c": c, "se": se}, stem="ew_large")


def test_binary_dynamic_batch():
    g = rng(6)
    x = g.standard_normal((3, 4, 4, 8)).astype(np.float32)
    se = g.standard_normal((3, 1, 1, 8)).astype(np.float32)
    tf = tfcheck._tf()
    check_against_tf(lambda x, se: [x * se, x + 2.0, tf.maximum(x, se)], {"x": x, "se": se},
                     dynamic_batch=True, stem="ew_dyn")


def test_nan_and_inf_semantics():
    tf = tfcheck._tf()
    nan, inf = np.nan, np.inf
    a = np.array([nan, 1.0, -inf, inf, 2.0, -0.0, 5.0, -5.0], np.float32)
    b = np.array([1.0, nan, 1.0, inf, 0.0, 3.0, -inf, inf], np.float32)
    check_against_tf(lambda a, b: [tf.maximum(a, b), tf.minimum(a, b), tf.math.floormod(a, b),
                                   tf.math.floordiv(a, b), tf.math.divide_no_nan(a, b),
                                   tf.equal(a, b), tf.not_equal(a, b), a / b],
                     {"a": a, "b": b}, stem="ew_nan")


def test_integer_wraparound():
    tf = tfcheck._tf()
    big = np.array([2**31 - 1, -2**31, -2**31, 7], np.int32)
    other = np.array([1, -1, 1, -1], np.int32)
    check_against_tf(lambda a, b: [a + b, a - b, a * 3, tf.math.floordiv(a, b),
                                   tf.math.floormod(a, b), tf.raw_ops.Div(x=a, y=b), -a, tf.abs(a)],
                     {"a": big, "b": other}, stem="ew_wrap")


def test_bool_ops():
    tf = tfcheck._tf()
    g = rng(7)
    a = g.integers(0, 2, (3, 4)).astype(bool)
    b = g.integers(0, 2, (4,)).astype(bool)
    check_against_tf(lambda a, b: [tf.logical_and(a, b), tf.logical_or(a, b), tf.logical_not(a),
                                   tf.equal(a, b), tf.not_equal(a, b)],
                     {"a": a, "b": b}, stem="ew_bool")


def test_equal_incompatible_shapes_without_error():
    tf = tfcheck._tf()
    a = np.ones((2, 3), np.float32)
    b = np.ones((2,), np.float32)
    check_against_tf(
        lambda a, b: [tf.raw_ops.Equal(x=a, y=b, incompatible_shape_error=False),
                      tf.raw_ops.NotEqual(x=a, y=b, incompatible_shape_error=False)],
        {"a": a, "b": b}, stem="ew_eq_incompat")


# ---- Select / SelectV2 / AddN -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64])
def test_select_v1(dtype):
    tf = tfcheck._tf()
    g = rng(8)
    x = g.integers(-9, 9, (4, 3)).astype(dtype)
    y = g.integers(-9, 9, (4, 3)).astype(dtype)
    same = g.integers(0, 2, (4, 3)).astype(bool)
    rows = g.integers(0, 2, (4,)).astype(bool)
    scalar = np.array(False)
    check_against_tf(lambda x, y, same, rows, scalar: [
        tf.raw_ops.Select(condition=same, x=x, y=y),
        tf.raw_ops.Select(condition=rows, x=x, y=y),
        tf.raw_ops.Select(condition=scalar, x=x, y=y)],
        {"x": x, "y": y, "same": same, "rows": rows, "scalar": scalar}, stem="ew_select")


def test_select_v2_broadcasts_all_three():
    tf = tfcheck._tf()
    g = rng(9)
    cond = g.integers(0, 2, (3, 1)).astype(bool)
    x = g.standard_normal((1, 4)).astype(np.float32)
    y = np.float32(-1.0)
    big_cond = g.integers(0, 2, (2, 1, 3)).astype(bool)
    bx = g.standard_normal((4, 3)).astype(np.float32)
    check_against_tf(lambda cond, x, y, big_cond, bx: [
        tf.where(cond, x, y), tf.where(big_cond, bx, y)],
        {"cond": cond, "x": x, "y": y, "big_cond": big_cond, "bx": bx}, stem="ew_select_v2")


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_add_n(dtype):
    tf = tfcheck._tf()
    g = rng(10)
    xs = {f"x{i}": g.integers(-9, 9, (2, 3, 5)).astype(dtype) for i in range(4)}
    check_against_tf(lambda **p: [tf.add_n([p["x0"], p["x1"], p["x2"], p["x3"]]),
                                  tf.add_n([p["x0"]]), tf.add_n([p["x1"], p["x2"]])],
                     xs, dynamic_batch=True, stem="ew_addn")


# ---- unary ops ----------------------------------------------------------------------------------

UNARY_FLOAT_OPS = ["Rsqrt", "Sqrt", "Square", "Exp", "Log", "Neg", "Abs", "Floor", "Ceil", "Round",
                   "Reciprocal", "Sign"]
POSITIVE_ONLY = {"Rsqrt", "Sqrt", "Log"}
UNARY_SHAPES = [(2, 3, 4), (), (0, 3), (1000,)]


@pytest.mark.parametrize("op", UNARY_FLOAT_OPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unary_float(op, dtype):
    tf = tfcheck._tf()
    fn = getattr(tf.raw_ops, op)
    inputs = {}
    for i, shape in enumerate(UNARY_SHAPES):
        g = rng(i)
        if op in POSITIVE_ONLY:
            v = g.uniform(0.01, 50.0, shape)
        elif op == "Round":
            v = g.integers(-10, 10, shape) / 2.0  # exact halves: ties go to even
        elif op == "Exp":
            v = g.uniform(-20.0, 20.0, shape)
        elif op == "Reciprocal":
            v = g.choice([-1.0, 1.0], shape) * g.uniform(0.1, 10.0, shape)
        else:
            v = g.standard_normal(shape) * 3
        inputs[f"x{i}"] = np.asarray(v, dtype)
    check_against_tf(lambda **p: [fn(x=p[f"x{i}"]) for i in range(len(UNARY_SHAPES))],
                     inputs, stem=f"ew_{op}_{np.dtype(dtype).name}")


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_unary_int(dtype):
    tf = tfcheck._tf()
    x = rng(11).integers(-100, 100, (3, 7)).astype(dtype)
    check_against_tf(lambda x: [tf.raw_ops.Neg(x=x), tf.raw_ops.Abs(x=x), tf.raw_ops.Square(x=x),
                                tf.raw_ops.Sign(x=x)],
                     {"x": x}, dynamic_batch=True, stem="ew_unary_int")


def test_unary_special_values():
    tf = tfcheck._tf()
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1.0, 2.5, -2.5, 0.5], np.float32)
    check_against_tf(lambda x: [getattr(tf.raw_ops, op)(x=x) for op in UNARY_FLOAT_OPS],
                     {"x": x}, stem="ew_unary_special")


def test_logical_not_dynamic():
    tf = tfcheck._tf()
    x = rng(12).integers(0, 2, (3, 5)).astype(bool)
    check_against_tf(lambda x: tf.logical_not(x), {"x": x}, dynamic_batch=True, stem="ew_not")


# ---- errors -------------------------------------------------------------------------------------

def _graph_only(build_fn, specs, stem):
    tf = tfcheck._tf()
    graph = tf.Graph()
    with graph.as_default():
        phs = {n: tf.compat.v1.placeholder(tf.as_dtype(d), shape=s, name=n)
               for n, (d, s) in specs.items()}
        out = tf.identity(build_fn(**phs), name="out0")
    return tfcheck.save_graph_bytes(graph.as_graph_def().SerializeToString(), stem), out.name


def _expect_error(build_fn, specs, feeds, stem, *fragments):
    import pbmem
    path, name = _graph_only(build_fn, specs, stem)
    with pytest.raises(pbmem.Error) as err:
        pbmem.load(path).run(feeds, outputs=[name])
    for fragment in fragments:
        assert fragment in str(err.value), str(err.value)


@pytest.mark.parametrize("op", ["FloorDiv", "FloorMod", "Div"])
def test_integer_division_by_zero_is_an_error(op):
    tf = tfcheck._tf()
    _expect_error(lambda a, b: getattr(tf.raw_ops, op)(x=a, y=b),
                  {"a": (np.int32, (3,)), "b": (np.int32, (3,))},
                  {"a": np.array([1, 2, 3], np.int32), "b": np.array([1, 0, 1], np.int32)},
                  f"ew_div0_{op}", "division by zero", op)


def test_negative_integer_power_is_an_error():
    tf = tfcheck._tf()
    _expect_error(lambda a, b: tf.raw_ops.Pow(x=a, y=b),
                  {"a": (np.int32, (2,)), "b": (np.int32, (2,))},
                  {"a": np.array([2, 2], np.int32), "b": np.array([1, -1], np.int32)},
                  "ew_pow_neg", "negative integer powers")


def test_unsupported_dtype_names_node_op_and_dtype():
    tf = tfcheck._tf()
    _expect_error(lambda a, b: tf.raw_ops.Maximum(x=a, y=b, name="mx"),
                  {"a": (np.uint8, (2,)), "b": (np.uint8, (2,))},
                  {"a": np.array([1, 2], np.uint8), "b": np.array([3, 0], np.uint8)},
                  "ew_uint8", "mx", "Maximum", "uint8")


def test_incompatible_broadcast_is_an_error():
    tf = tfcheck._tf()
    _expect_error(lambda a, b: tf.raw_ops.AddV2(x=a, y=b, name="bad_add"),
                  {"a": (np.float32, (None, 3)), "b": (np.float32, (None, 3))},
                  {"a": np.ones((2, 3), np.float32), "b": np.ones((4, 3), np.float32)},
                  "ew_bad_bcast", "bad_add", "AddV2")
