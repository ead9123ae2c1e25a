"""Conformance of the reductions (src/kernels/reduce.cc, argminmax.cc) with TF: Sum/Mean/Max/
Min/Prod/All/Any over scalar, vector, negative, non-adjacent and empty axes with and without
keep_dims, global average pooling (Mean over H,W of NHWC), size-0 dims, long axes, unknown
batch, ArgMax/ArgMin with ties and NaN, and the error for duplicate axes."""
import numpy as np
import pytest

import tfcheck
from tfcheck import check_against_tf, rng

# Axes cases applied to one [2, 3, 4, 5] input; None reduces everything.
AXES_CASES = [0, -1, 2, [1, 2], [0, 2], [-1, 0], [0, 1, 2, 3], [], None, [3, 1]]
REDUCE_OPS = ["Sum", "Mean", "Max", "Min", "Prod"]


def _reduce(op, x, axis, keep_dims):
    tf = tfcheck._tf()
    if axis is None:
        axis = list(range(len(x.shape)))
    return getattr(tf.raw_ops, op)(input=x, axis=tf.constant(axis, tf.int32), keep_dims=keep_dims)


def _values(op, shape, dtype, seed=0):
    g = rng(seed)
    if np.issubdtype(dtype, np.integer):
        low, high = (1, 3) if op == "Prod" else (-20, 21)
        return g.integers(low, high, shape).astype(dtype)
    if op == "Prod":
        return g.uniform(0.5, 1.5, shape).astype(dtype)
    return g.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("keep_dims", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64])
@pytest.mark.parametrize("op", REDUCE_OPS)
def test_reduce_axes(op, dtype, keep_dims):
    x = _values(op, (2, 3, 4, 5), dtype)
    check_against_tf(lambda x: [_reduce(op, x, a, keep_dims) for a in AXES_CASES], {"x": x},
                     stem=f"red_{op}_{np.dtype(dtype).name}")


@pytest.mark.parametrize("op", REDUCE_OPS)
def test_reduce_float64_and_int64_axes(op):
    tf = tfcheck._tf()
    x = _values(op, (3, 4, 6), np.float64, seed=1)
    check_against_tf(lambda x: [getattr(tf.raw_ops, op)(input=x, axis=tf.constant([-2], tf.int64)),
                                getattr(tf.raw_ops, op)(input=x, axis=tf.constant(0, tf.int64),
                                                        keep_dims=True)],
                     {"x": x}, stem=f"red_{op}_f64")


@pytest.mark.parametrize("op", REDUCE_OPS)
def test_reduce_edge_shapes(op):
    """Rank 0, size-1 dims, size-0 dims (reduced and kept), long contiguous and strided axes."""
    inputs = {
        "scalar": _values(op, (), np.float32, 2),
        "ones": _values(op, (1, 1, 3, 1), np.float32, 3),
        "empty_reduced": np.zeros((3, 0, 2), np.float32),
        "empty_kept": np.zeros((0, 4), np.float32),
        "long": _values(op, (3, 3001), np.float32, 4),
        "tall": _values(op, (3001, 3), np.float32, 5),
    }
    check_against_tf(lambda scalar, ones, empty_reduced, empty_kept, long, tall: [
        _reduce(op, scalar, [], False), _reduce(op, scalar, [], True),
        _reduce(op, ones, [0, 3], False), _reduce(op, ones, 2, True),
        _reduce(op, ones, None, False),
        _reduce(op, empty_reduced, 1, False), _reduce(op, empty_reduced, [0, 1], True),
        _reduce(op, empty_kept, 1, False), _reduce(op, empty_kept, 0, False),
        _reduce(op, long, 1, False), _reduce(op, long, 0, False),
        _reduce(op, tall, 0, False), _reduce(op, tall, -1, True)], inputs, stem=f"red_{op}_edges")


def test_global_average_pooling_and_layer_norm_patterns():
    """The hot cases: Mean over H,W of NHWC (squeeze-excite, GAP) and over the last axis."""
    tf = tfcheck._tf()
    g = rng(6)
    x = g.standard_normal((2, 7, 7, 300)).astype(np.float32)  # more channels than one block
    y = g.standard_normal((4, 10, 768)).astype(np.float32)
    check_against_tf(lambda x, y: [tf.reduce_mean(x, [1, 2]),
                                   tf.reduce_mean(x, [1, 2], keepdims=True),
                                   tf.reduce_max(x, [1, 2]), tf.reduce_mean(y, -1, keepdims=True),
                                   tf.reduce_sum(y, [0, 2])],
                     {"x": x, "y": y}, stem="red_gap")


def test_reduce_dynamic_batch():
    tf = tfcheck._tf()
    x = rng(7).standard_normal((3, 5, 5, 8)).astype(np.float32)
    check_against_tf(lambda x: [tf.reduce_mean(x, [1, 2]), tf.reduce_sum(x, 0),
                                tf.reduce_max(x, [0, 3], keepdims=True), tf.reduce_min(x),
                                tf.argmax(x, -1), tf.argmin(x, 0)],
                     {"x": x}, dynamic_batch=True, stem="red_dyn")


def test_long_sum_accuracy():
    """A long float axis: double accumulation stays within tolerance of TF's tree sum."""
    tf = tfcheck._tf()
    x = (rng(8).standard_normal((2, 200000)) + 3.0).astype(np.float32)
    check_against_tf(lambda x: [tf.reduce_sum(x, 1), tf.reduce_mean(x, 1), tf.reduce_sum(x)],
                     {"x": x}, stem="red_long")


def test_integer_mean_truncates_and_sum_wraps():
    """Integer means truncate; TF accumulates int32 means in 64 bits but int32 sums wrap."""
    tf = tfcheck._tf()
    x = np.array([[1, 2, 0], [3, 5, 0], [-1, -2, 0], [-7, 2, 0], [2**31 - 1, 5, 2**31 - 1],
                  [-2**31, -2**31, 3]], np.int32)
    y = np.array([[2**63 - 1, 5], [-9, 2]], np.int64)
    check_against_tf(lambda x, y: [tf.reduce_mean(x, 1), tf.reduce_sum(x, 1), tf.reduce_prod(x, 1),
                                   tf.reduce_mean(x, 0), tf.reduce_mean(y, 1), tf.reduce_sum(y, 1)],
                     {"x": x, "y": y}, stem="red_int_trunc")


def test_nan_propagates_in_max_min():
    tf = tfcheck._tf()
    x = np.array([[np.nan, 1.0, 3.0], [1.0, np.nan, 3.0], [1.0, 3.0, np.nan], [2.0, 1.0, 0.0]],
                 np.float32)
    check_against_tf(lambda x: [tf.reduce_max(x, 1), tf.reduce_min(x, 1), tf.reduce_sum(x, 1),
                                tf.reduce_max(x, 0), tf.argmax(x, 1), tf.argmin(x, 1)],
                     {"x": x}, stem="red_nan")


def test_nan_and_inf_in_long_rows():
    """Rows longer than the vector lanes: NaN in the vector part, in the tail, everywhere."""
    tf = tfcheck._tf()
    x = rng(13).standard_normal((6, 21)).astype(np.float32)
    x[0, 3] = np.nan
    x[1, 20] = np.nan
    x[2, :] = np.nan
    x[3, :] = -np.inf
    x[4, 5] = np.inf
    x[4, 17] = np.inf
    x[5, ::2] = np.nan
    check_against_tf(lambda x: [tf.reduce_max(x, 1), tf.reduce_min(x, 1), tf.argmax(x, 1),
                                tf.argmin(x, 1), tf.reduce_max(x, 0), tf.argmax(x, 0),
                                tf.nn.softmax(x), tf.nn.log_softmax(x)],
                     {"x": x}, stem="red_nan_long")


@pytest.mark.parametrize("op", ["All", "Any"])
def test_all_any(op):
    tf = tfcheck._tf()
    x = rng(9).integers(0, 2, (3, 4, 5)).astype(bool)
    x[0] = True
    x[1] = False
    empty = np.zeros((2, 0), bool)
    fn = getattr(tf.raw_ops, op)
    check_against_tf(lambda x, empty: [fn(input=x, axis=[1, 2]),
                                       fn(input=x, axis=0, keep_dims=True),
                                       fn(input=x, axis=[-1]), fn(input=x, axis=[0, 1, 2]),
                                       fn(input=empty, axis=1)],
                     {"x": x, "empty": empty}, stem=f"red_{op}")


@pytest.mark.parametrize("output_type", ["int32", "int64"])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64, np.float64])
def test_argmax_argmin(dtype, output_type):
    tf = tfcheck._tf()
    x = rng(10).integers(-3, 4, (3, 4, 300)).astype(dtype)  # many ties: the first index wins
    out_t = tf.as_dtype(output_type)
    check_against_tf(lambda x: [tf.raw_ops.ArgMax(input=x, dimension=d, output_type=out_t)
                                for d in (0, 1, -1)] +
                               [tf.raw_ops.ArgMin(input=x, dimension=d, output_type=out_t)
                                for d in (0, 1, 2)],
                     {"x": x}, stem="red_arg")


def test_argmax_rank1_and_int64_dimension():
    tf = tfcheck._tf()
    x = rng(11).standard_normal((17,)).astype(np.float32)
    y = rng(12).standard_normal((0, 3)).astype(np.float32)
    check_against_tf(lambda x, y: [tf.math.argmax(x, tf.constant(0, tf.int64)), tf.math.argmin(x),
                                   tf.math.argmax(y, 1)],
                     {"x": x, "y": y}, stem="red_arg_rank1")


# ---- errors -------------------------------------------------------------------------------------

def _expect_error(build_fn, x, stem, *fragments, patch=None):
    """Builds a graph, optionally patches it (patch(graph_def) for values TF refuses to build
    with), and checks pbmem fails with a message holding every fragment."""
    import pbmem
    tf = tfcheck._tf()
    graph = tf.Graph()
    with graph.as_default():
        ph = tf.compat.v1.placeholder(tf.as_dtype(x.dtype), shape=x.shape, name="x")
        out = tf.identity(build_fn(ph), name="out0")
    graph_def = graph.as_graph_def()
    if patch:
        patch(graph_def)
    path = tfcheck.save_graph_bytes(graph_def.SerializeToString(), stem)
    with pytest.raises(pbmem.Error) as err:
        pbmem.load(path).run({"x": x}, outputs=[out.name])
    for fragment in fragments:
        assert fragment in str(err.value), str(err.value)


def test_duplicate_axes_are_an_error():
    tf = tfcheck._tf()
    x = np.ones((2, 3), np.float32)
    _expect_error(lambda x: tf.raw_ops.Sum(input=x, axis=tf.constant([1, -1]), name="dup"), x,
                  "red_dup", "dup", "Sum", "twice")


def test_axis_out_of_range_is_an_error():
    tf = tfcheck._tf()
    x = np.ones((2, 3), np.float32)

    def set_axis(graph_def):
        for node in graph_def.node:
            if node.name == "axis":
                node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.array([2], np.int32)))

    _expect_error(
        lambda x: tf.raw_ops.Mean(input=x, axis=tf.constant([1], name="axis"), name="far"),
        x, "red_range", "far", "Mean", "out of range", patch=set_axis)


def test_argmax_over_empty_axis_is_an_error():
    tf = tfcheck._tf()
    x = np.ones((2, 0), np.float32)
    _expect_error(lambda x: tf.raw_ops.ArgMax(input=x, dimension=1, name="am"), x,
                  "red_arg_empty", "am", "ArgMax", "empty")
