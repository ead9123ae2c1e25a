"""Conformance of MaxPool, MaxPoolV2, AvgPool and FusedBatchNorm(V2/V3) inference with TF."""
import numpy as np
import pytest

import tfcheck
from tfcheck import check_against_tf, rng


def _images(shape, seed=0):
    return rng(seed).standard_normal(shape).astype(np.float32)


# (input shape, ksize, strides, padding)
POOL_CASES = [
    ((1, 8, 8, 3), (2, 2), (2, 2), "VALID"),
    ((2, 7, 9, 4), (3, 3), (2, 2), "SAME"),
    ((2, 7, 9, 4), (3, 3), (2, 2), "VALID"),
    ((1, 6, 5, 2), (3, 2), (1, 1), "SAME"),
    ((1, 5, 5, 3), (5, 5), (1, 1), "SAME"),   # windows mostly padding
    ((1, 9, 7, 2), (2, 3), (3, 2), "SAME"),
]


@pytest.mark.parametrize("x_shape,ksize,strides,padding", POOL_CASES)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool(kind, x_shape, ksize, strides, padding):
    tf = tfcheck._tf()
    pool = tf.nn.max_pool2d if kind == "max" else tf.nn.avg_pool2d
    x = _images(x_shape)
    if kind == "max":
        x = x - 10.0  # all negative: a padded zero must never win
    check_against_tf(lambda x: pool(x, list(ksize), list(strides), padding), {"x": x},
                     stem=f"{kind}pool")


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_dynamic_batch(kind):
    tf = tfcheck._tf()
    pool = tf.nn.max_pool2d if kind == "max" else tf.nn.avg_pool2d
    check_against_tf(lambda x: pool(x, 3, 2, "SAME"), {"x": _images((3, 7, 9, 4))},
                     dynamic_batch=True, stem=f"{kind}pool_dyn")


def test_max_pool_explicit_padding():
    tf = tfcheck._tf()
    check_against_tf(
        lambda x: tf.raw_ops.MaxPool(input=x, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1],
                                     padding="EXPLICIT", explicit_paddings=[0, 0, 1, 2, 2, 1, 0, 0]),
        {"x": _images((1, 8, 9, 3)) - 10.0}, stem="maxpool_explicit")


def test_max_pool_v2():
    tf = tfcheck._tf()
    check_against_tf(
        lambda x: tf.raw_ops.MaxPoolV2(input=x, ksize=tf.constant([1, 3, 3, 1]),
                                       strides=tf.constant([1, 2, 2, 1]), padding="SAME"),
        {"x": _images((2, 7, 8, 3))}, stem="maxpool_v2")


def _bn_params(channels, seed=5):
    r = rng(seed)
    scale = r.uniform(0.5, 1.5, channels).astype(np.float32)
    offset = r.uniform(-0.5, 0.5, channels).astype(np.float32)
    mean = r.uniform(-0.5, 0.5, channels).astype(np.float32)
    variance = r.uniform(0.5, 2.0, channels).astype(np.float32)
    return scale, offset, mean, variance


@pytest.mark.parametrize("x_shape,epsilon", [
    ((2, 5, 6, 8), 0.001),
    ((1, 3, 3, 3), 1e-5),
    ((1, 4, 4, 7), 0.1),
])
def test_fused_batch_norm(x_shape, epsilon):
    tf = tfcheck._tf()
    scale, offset, mean, variance = _bn_params(x_shape[-1])

    def build(x):
        y, batch_mean, batch_var = tf.compat.v1.nn.fused_batch_norm(
            x, tf.constant(scale), tf.constant(offset), mean=tf.constant(mean),
            variance=tf.constant(variance), epsilon=epsilon, is_training=False)
        return [y, batch_mean, batch_var]

    check_against_tf(build, {"x": _images(x_shape)}, stem="fused_bn")


@pytest.mark.parametrize("op", ["FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"])
def test_fused_batch_norm_versions_dynamic_batch(op):
    tf = tfcheck._tf()
    scale, offset, mean, variance = _bn_params(5, seed=6)

    def build(x):
        outs = getattr(tf.raw_ops, op)(x=x, scale=tf.constant(scale), offset=tf.constant(offset),
                                       mean=tf.constant(mean), variance=tf.constant(variance),
                                       epsilon=0.01, is_training=False)
        return [outs[0], outs[1], outs[2]]

    check_against_tf(build, {"x": _images((3, 4, 6, 5))}, dynamic_batch=True, stem="fused_bn_v")


def test_fused_batch_norm_params_computed_at_run_time():
    tf = tfcheck._tf()
    scale, offset, mean, variance = _bn_params(4, seed=7)

    def build(x, variance):
        y, _, _ = tf.compat.v1.nn.fused_batch_norm(
            x, tf.constant(scale), tf.constant(offset), mean=tf.constant(mean),
            variance=variance, epsilon=0.001, is_training=False)
        return y

    check_against_tf(build, {"x": _images((2, 3, 3, 4)), "variance": variance},
                     stem="fused_bn_var")


def test_fused_batch_norm_training_is_unimplemented():
    tf = tfcheck._tf()
    import pbmem
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, shape=(1, 2, 2, 3), name="x")
        c = tf.constant(np.ones(3, np.float32))
        y, _, _ = tf.compat.v1.nn.fused_batch_norm(x, c, c, is_training=True)
        tf.identity(y, name="out0")
    path = tfcheck.save_graph_bytes(graph.as_graph_def().SerializeToString(), "fused_bn_train")
    with pytest.raises(pbmem.Error, match="is_training"):
        pbmem.load(path).run({"x": _images((1, 2, 2, 3))}, outputs=["out0"])
