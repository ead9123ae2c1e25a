"""Conformance of MatMul and BatchMatMul(V2/V3) with TF."""
import numpy as np
import pytest

import tfcheck
from tfcheck import check_against_tf, rng


def _values(shape, seed=0, scale=1.0):
    return (rng(seed).standard_normal(shape) * scale).astype(np.float32)


def _stored(shape, transpose):
    """The stored shape of an operand whose logical (matrix) shape is `shape`."""
    return shape[:-2] + (shape[-1], shape[-2]) if transpose else shape


@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
@pytest.mark.parametrize("m,k,n", [(3, 4, 5), (1, 17, 9)])
def test_matmul_constant_weights(transpose_a, transpose_b, m, k, n):
    tf = tfcheck._tf()
    b = _values(_stored((k, n), transpose_b), seed=1, scale=1 / np.sqrt(k))
    check_against_tf(
        lambda a: tf.linalg.matmul(a, tf.constant(b), transpose_a=transpose_a,
                                   transpose_b=transpose_b),
        {"a": _values(_stored((m, k), transpose_a))}, stem="matmul")


@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
def test_matmul_both_inputs_computed(transpose_a, transpose_b):
    tf = tfcheck._tf()
    check_against_tf(
        lambda a, b: tf.linalg.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b),
        {"a": _values(_stored((6, 7), transpose_a)), "b": _values(_stored((7, 3), transpose_b), 1)},
        stem="matmul_var")


def test_matmul_dynamic_batch_dense_layer():
    tf = tfcheck._tf()
    w = _values((10, 4), seed=2, scale=0.3)
    bias = _values((4,), seed=3)
    check_against_tf(
        lambda x: tf.nn.relu(tf.nn.bias_add(tf.linalg.matmul(x, tf.constant(w)), tf.constant(bias))),
        {"x": _values((3, 10))}, dynamic_batch=True, stem="matmul_dyn")


# (A logical shape, B logical shape): batch dims broadcast like NumPy.
BROADCAST_CASES = [
    ((2, 3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 6)),
    ((3, 4), (2, 2, 4, 5)),
    ((2, 3, 3, 4), (4, 5)),
    ((1, 3, 2, 4), (2, 1, 4, 3)),
    ((2, 1, 2, 1, 3, 4), (1, 2, 1, 2, 4, 2)),
]


@pytest.mark.parametrize("a_shape,b_shape", BROADCAST_CASES)
@pytest.mark.parametrize("adj_x,adj_y", [(False, False), (True, True), (False, True)])
def test_batch_matmul_v2_broadcast(a_shape, b_shape, adj_x, adj_y):
    tf = tfcheck._tf()
    check_against_tf(
        lambda a, b: tf.linalg.matmul(a, b, adjoint_a=adj_x, adjoint_b=adj_y),
        {"a": _values(_stored(a_shape, adj_x)), "b": _values(_stored(b_shape, adj_y), 1)},
        stem="batch_matmul_v2")


@pytest.mark.parametrize("adj_y", [False, True])
def test_batch_matmul_v2_constant_weights(adj_y):
    tf = tfcheck._tf()
    b = _values(_stored((5, 4, 6), adj_y), seed=4, scale=0.5)
    check_against_tf(lambda a: tf.linalg.matmul(a, tf.constant(b), adjoint_b=adj_y),
                     {"a": _values((2, 1, 3, 4))}, stem="batch_matmul_const")


def test_batch_matmul_v2_dynamic_batch():
    tf = tfcheck._tf()
    w = _values((8, 6), seed=5, scale=0.35)
    check_against_tf(lambda x: tf.linalg.matmul(x, tf.constant(w)),
                     {"x": _values((3, 5, 8))}, dynamic_batch=True, stem="batch_matmul_dyn")


def test_batch_matmul_v2_dynamic_batch_attention():
    tf = tfcheck._tf()
    check_against_tf(lambda q, k: tf.linalg.matmul(q, k, transpose_b=True),
                     {"q": _values((2, 3, 5, 8)), "k": _values((2, 3, 7, 8), seed=1)},
                     dynamic_batch=True, stem="batch_matmul_attn")


@pytest.mark.parametrize("op", ["BatchMatMul", "BatchMatMulV3"])
def test_batch_matmul_v1_v3(op):
    tf = tfcheck._tf()
    extra = {"Tout": tf.float32} if op == "BatchMatMulV3" else {}
    check_against_tf(
        lambda a, b: getattr(tf.raw_ops, op)(x=a, y=b, adj_x=True, adj_y=False, **extra),
        {"a": _values((2, 3, 4, 5)), "b": _values((2, 3, 4, 6), seed=1)}, stem="batch_matmul_v")
