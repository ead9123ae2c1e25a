"""Conformance with TF of the index ops of issue 17: TopKV2, GatherNd, ScatterNd,
TensorScatterUpdate/Add/Sub/Max/Min and SparseToDense, and their errors (TF's index-error semantics
on CPU, bad_indices_policy='IGNORE', validate_indices).
"""
import numpy as np
import pytest

import tfcheck
from tfcheck import check_against_tf, rng


def _f32(shape, seed=0, scale=3.0):
    return (rng(seed).standard_normal(shape) * scale).astype(np.float32)


# ---- TopKV2 -------------------------------------------------------------------------------------

def test_top_k_sorted_with_ties():
    tf = tfcheck._tf()
    x = _f32((3, 4, 50), 1)
    # Few distinct values: many ties, which TF breaks by lower index first.
    ties = rng(2).integers(0, 4, (5, 17)).astype(np.int32)
    d = rng(3).integers(-3, 3, (2, 9)).astype(np.float64)

    def build(x, ties, d):
        outs = []
        for t, k in ((x, 5), (x, 1), (x, 50), (ties, 7), (ties, 0), (d, 9)):
            v, i = tf.math.top_k(t, k)
            outs += [v, i]
        v, i = tf.raw_ops.TopKV2(input=ties, k=tf.constant(4, tf.int64), index_type=tf.int64)
        outs += [v, i]
        v, i = tf.raw_ops.TopKV2(input=tf.cast(ties, tf.int8), k=tf.constant(3, tf.int16),
                                 index_type=tf.int16)
        outs += [v, i]
        v, i = tf.math.top_k(tf.cast(d, tf.float16), 4)
        return outs + [v, i, tf.math.top_k(x[:, :, :0], 0)[0]]
    check_against_tf(build, {"x": x, "ties": ties, "d": d}, stem="index_topk")


def test_top_k_dynamic_batch():
    tf = tfcheck._tf()
    check_against_tf(lambda x: list(tf.math.top_k(x * 2.0, 3)), {"x": _f32((4, 10), 4)},
                     dynamic_batch=True, stem="index_topk_dyn")


def test_top_k_unsorted_same_entries():
    """sorted=False leaves TF's order unspecified: compare the entries as sets per row."""
    tf = tfcheck._tf()
    import pbmem
    x = _f32((6, 40), 5)
    data, names, want = tfcheck.build_tf1_graph(
        lambda x: list(tf.math.top_k(x, 9, sorted=False)), {"x": x})
    got = pbmem.load(tfcheck.save_graph_bytes(data, "index_topk_unsorted")).run({"x": x}, outputs=names)
    for row in range(6):
        order_tf = np.argsort(want[1][row])
        order_pb = np.argsort(got[names[1]][row])
        np.testing.assert_array_equal(got[names[1]][row][order_pb], want[1][row][order_tf])
        np.testing.assert_array_equal(got[names[0]][row][order_pb], want[0][row][order_tf])


def test_top_k_too_few_columns():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda x: tf.math.top_k(x, 5)[0], {"x": (np.float32, (2, None))},
                               {"x": np.zeros((2, 3), np.float32)}, "bad_topk_cols", "at least k = 5")


def test_top_k_negative_k():
    tf = tfcheck._tf()

    def set_k(graph_def):
        node = next(n for n in graph_def.node if n.op == "Const")
        node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.int32(-1)))
    tfcheck.expect_pbmem_error(lambda x: tf.math.top_k(x, 1)[0], {"x": (np.float32, (2, 3))},
                               {"x": np.zeros((2, 3), np.float32)}, "bad_topk_k", "'k' must be >= 0",
                               mutate=set_k)


# ---- GatherNd -----------------------------------------------------------------------------------

def test_gather_nd():
    tf = tfcheck._tf()
    p = _f32((4, 5, 3), 6)
    ints = np.arange(4 * 5, dtype=np.int64).reshape(4, 5)

    def build(p, ints):
        return [tf.gather_nd(p, [[1, 2], [3, 4], [0, 0]]),          # slices of the last dim
                tf.gather_nd(p, [[[1]], [[3]]]),                     # whole [5, 3] blocks
                tf.gather_nd(p, [[1, 2, 0], [3, 4, 2]]),             # single elements
                tf.gather_nd(p, np.zeros((2, 0), np.int32)),         # K = 0: all of params
                tf.gather_nd(p, np.zeros((0, 2), np.int32)),         # no tuples
                tf.gather_nd(ints, tf.constant([[2, 1], [0, 4]], tf.int64)),
                tf.gather_nd(tf.cast(ints, tf.bool), [[3, 3]]),
                tf.raw_ops.GatherNd(params=p, indices=[[4, 0], [1, 1], [-1, 0]],
                                    bad_indices_policy="IGNORE")]
    check_against_tf(build, {"p": p, "ints": ints}, stem="index_gather_nd")


def test_gather_nd_fed_indices_dynamic_batch():
    tf = tfcheck._tf()
    idx = np.array([[2, 0], [1, 3], [2, 2]], np.int32)
    check_against_tf(lambda p, i: tf.gather_nd(p, i) + 1.0, {"p": _f32((3, 4, 2), 7), "i": idx},
                     dynamic_batch=True, stem="index_gather_nd_dyn")


@pytest.mark.parametrize("bad", [[2, 0], [-1, 0]])
def test_gather_nd_bad_index(bad):
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda p, i: tf.gather_nd(p, i),
                               {"p": (np.float32, (2, 3)), "i": (np.int32, (2, 2))},
                               {"p": np.zeros((2, 3), np.float32), "i": np.array([[0, 0], bad], np.int32)},
                               "bad_gather_nd", f"indices[1] = [{bad[0]}, {bad[1]}] does not index into param shape [2,3]")


def test_gather_nd_empty_params():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda p: tf.gather_nd(p, [[0]]), {"p": (np.float32, (None, 3))},
                               {"p": np.zeros((0, 3), np.float32)}, "bad_gather_nd_empty", "is empty")


# ---- ScatterNd / TensorScatter* -------------------------------------------------------------------

def test_scatter_nd():
    tf = tfcheck._tf()
    u = _f32((4, 3), 8)
    ui = rng(9).integers(-50, 50, (5,)).astype(np.int32)

    def build(u, ui):
        dup = tf.constant([[1], [3], [1], [0]])                  # index 1 twice: the updates add
        return [tf.scatter_nd(dup, u, [5, 3]),
                tf.scatter_nd([[0, 2], [4, 1], [0, 2], [1, 1], [4, 1]], ui, [5, 3]),
                tf.scatter_nd(tf.constant([[1, 1, 1]], tf.int64), tf.cast(ui[:1], tf.int64),
                              tf.constant([2, 2, 2], tf.int64)),
                tf.scatter_nd(np.zeros((0, 1), np.int32), np.zeros((0, 3), np.float32), [4, 3]),
                tf.scatter_nd(tf.constant([[2], [1]], tf.int64), u[:2], tf.constant([3, 3], tf.int64)),
                tf.raw_ops.ScatterNd(indices=[[9], [1]], updates=u[:2], shape=[4, 3],
                                     bad_indices_policy="IGNORE")]
    check_against_tf(build, {"u": u, "ui": ui}, stem="index_scatter_nd")


def test_tensor_scatter():
    tf = tfcheck._tf()
    t = _f32((5, 4), 10)
    u = _f32((3, 4), 11)
    ti = rng(12).integers(-9, 9, (5, 4)).astype(np.int64)

    def build(t, u, ti):
        idx = [[1], [4], [1]]                                     # a duplicate: Update keeps the last
        el = [[0, 0], [2, 3], [0, 0]]
        outs = [tf.tensor_scatter_nd_update(t, idx, u), tf.tensor_scatter_nd_add(t, idx, u),
                tf.tensor_scatter_nd_sub(t, idx, u), tf.tensor_scatter_nd_max(t, idx, u),
                tf.tensor_scatter_nd_min(t, idx, u)]
        iu = tf.constant([7, -2, 5], tf.int64)
        outs += [tf.tensor_scatter_nd_update(ti, el, iu), tf.tensor_scatter_nd_add(ti, el, iu),
                 tf.tensor_scatter_nd_max(ti, el, iu), tf.tensor_scatter_nd_min(ti, el, iu),
                 tf.tensor_scatter_nd_update(tf.cast(ti, tf.bool), [[1, 1]], [True]),
                 tf.tensor_scatter_nd_update(t, tf.constant([[3]], tf.int64), u[:1]),
                 tf.tensor_scatter_nd_update(t, np.zeros((0, 1), np.int32), np.zeros((0, 4), np.float32)),
                 tf.raw_ops.TensorScatterAdd(tensor=t, indices=[[7], [2]], updates=u[:2],
                                             bad_indices_policy="IGNORE")]
        return outs
    check_against_tf(build, {"t": t, "u": u, "ti": ti}, stem="index_tensor_scatter")


def test_tensor_scatter_dynamic_batch():
    tf = tfcheck._tf()
    check_against_tf(lambda t, u: tf.tensor_scatter_nd_add(t * 1.5, [[0], [1]], u[:2]),
                     {"t": _f32((3, 4), 13), "u": _f32((3, 4), 14)}, dynamic_batch=True,
                     stem="index_tensor_scatter_dyn")


def test_scatter_nd_bad_index():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda i, u: tf.scatter_nd(i, u, [4]),
                               {"i": (np.int32, (2, 1)), "u": (np.float32, (2,))},
                               {"i": np.array([[1], [5]], np.int32), "u": np.ones(2, np.float32)},
                               "bad_scatter_nd", "indices[1] = [5] does not index into shape [4]")


def test_tensor_scatter_bad_index():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda t, i: tf.tensor_scatter_nd_update(t, i, [1.0]),
                               {"t": (np.float32, (2, 3)), "i": (np.int64, (1, 2))},
                               {"t": np.zeros((2, 3), np.float32), "i": np.array([[0, -1]], np.int64)},
                               "bad_tensor_scatter", "indices[0] = [0, -1] does not index into shape [2,3]")


def test_scatter_nd_bad_updates_shape():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda i, u: tf.scatter_nd(i, u, [4, 3]),
                               {"i": (np.int32, (2, 1)), "u": (np.float32, (2, None))},
                               {"i": np.array([[1], [2]], np.int32), "u": np.ones((2, 4), np.float32)},
                               "bad_scatter_updates", "'updates' has shape [2,4]")


# ---- SparseToDense ------------------------------------------------------------------------------

def test_sparse_to_dense():
    tf = tfcheck._tf()
    v = _f32((3,), 15)
    vi = np.array([4, -7, 9], np.int64)

    def build(v, vi):
        s2d = tf.raw_ops.SparseToDense
        return [s2d(sparse_indices=[[0, 1], [1, 0], [2, 3]], output_shape=[3, 4], sparse_values=v,
                    default_value=-1.0),
                s2d(sparse_indices=[[0, 1], [1, 0], [2, 3]], output_shape=[3, 4], sparse_values=2.5,
                    default_value=0.0),
                s2d(sparse_indices=tf.constant([1, 4, 5], tf.int64), output_shape=tf.constant([6], tf.int64),
                    sparse_values=vi, default_value=tf.constant(3, tf.int64)),
                s2d(sparse_indices=2, output_shape=[4], sparse_values=True, default_value=False),
                # Unsorted and repeated indices are accepted without validation (the last value wins).
                s2d(sparse_indices=[[2, 3], [0, 1], [2, 3]], output_shape=[3, 4], sparse_values=v,
                    default_value=0.0, validate_indices=False),
                s2d(sparse_indices=np.zeros((0, 2), np.int32), output_shape=[2, 2],
                    sparse_values=np.zeros((0,), np.float32), default_value=1.0)]
    check_against_tf(build, {"v": v, "vi": vi}, stem="index_sparse_to_dense")


@pytest.mark.parametrize("idx,validate,fragment", [
    ([[0, 1], [0, 0]], True, "indices[1] = [0,0] is out of order"),
    ([[0, 1], [0, 1]], True, "indices[1] = [0,1] is repeated"),
    ([[0, 1], [3, 1]], True, "indices[1] = [3,1] is out of bounds: need 0 <= index < [2,2]"),
    ([[0, 1], [3, 1]], False, "out of bounds")])
def test_sparse_to_dense_bad_indices(idx, validate, fragment):
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(
        lambda i: tf.raw_ops.SparseToDense(sparse_indices=i, output_shape=[2, 2], sparse_values=[1.0, 2.0],
                                           default_value=0.0, validate_indices=validate),
        {"i": (np.int32, (2, 2))}, {"i": np.array(idx, np.int32)}, f"bad_s2d_{validate}", fragment)


def test_sparse_to_dense_bad_values_shape():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(
        lambda v: tf.raw_ops.SparseToDense(sparse_indices=[1, 3], output_shape=[5], sparse_values=v,
                                           default_value=1.0),
        {"v": (np.float32, (None,))}, {"v": np.ones(3, np.float32)}, "bad_s2d_values",
        "'sparse_values' has shape [3], but must be [] or [2]")
