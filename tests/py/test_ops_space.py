"""Conformance with TF of DepthToSpace, SpaceToDepth, SpaceToBatchND, BatchToSpaceND and their v1
forms (issue 17), as DeepLab's atrous convolutions and dilated Conv1D produce them, and their errors.
"""
import numpy as np
import pytest

import tfcheck
from tfcheck import check_against_tf, rng


def _f32(shape, seed=0, scale=3.0):
    return (rng(seed).standard_normal(shape) * scale).astype(np.float32)


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
    tfcheck.expect_pbmem_error(lambda x: tf.space_to_batch_nd(x, [2, 2], [[0, 1], [0, 0]]),
                  {"x": (np.float32, (1, None, 4, 1))}, {"x": np.zeros((1, 4, 4, 1), np.float32)},
                  "bad_s2b_pad", "divisible")


def test_batch_to_space_bad_batch():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda x: tf.compat.v1.batch_to_space_nd(x, [2, 2], [[0, 0], [0, 0]]),
                  {"x": (np.float32, (None, 2, 2, 1))}, {"x": np.zeros((3, 2, 2, 1), np.float32)},
                  "bad_b2s_batch", "divisible")


def test_depth_to_space_bad_depth():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda x: tf.nn.depth_to_space(x, 2), {"x": (np.float32, (1, 2, 2, None))},
                  {"x": np.zeros((1, 2, 2, 6), np.float32)}, "bad_d2s_depth", "divisible")

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

@pytest.mark.parametrize("pads,fragment", [([[2 ** 62, 2 ** 62], [0, 0]], "overflows"),
                                           ([[-1, 1], [0, 0]], "non-negative")])
def test_space_to_batch_bad_paddings(pads, fragment):
    tf = tfcheck._tf()

    def set_pads(graph_def):
        node = next(n for n in graph_def.node if n.op == "Const" and "paddings" in n.name)
        node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.array(pads, np.int64)))
        node.attr["dtype"].type = tf.int64.as_datatype_enum
        tfcheck.find_node(graph_def, "SpaceToBatchND").attr["Tpaddings"].type = tf.int64.as_datatype_enum
    tfcheck.expect_pbmem_error(lambda x: tf.space_to_batch_nd(x, [2, 2], [[0, 0], [0, 0]]), {"x": (np.float32, None)},
                  {"x": np.zeros((1, 4, 4, 1), np.float32)}, f"bad_s2b_{fragment}", fragment, mutate=set_pads)


def test_keras_dilated_conv1d_frozen():
    """A Keras model frozen as users do: dilated Conv1D layers become SpaceToBatchND -> Conv2D ->
    BatchToSpaceND with a dynamic batch."""
    tf = tfcheck._tf()
    import keras
    import pbmem
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    keras.utils.set_random_seed(0)
    inp = keras.Input((32, 8))
    y = keras.layers.Conv1D(6, 3, dilation_rate=2, padding="causal")(inp)
    y = keras.layers.Conv1D(5, 3, dilation_rate=4, padding="same")(y)
    net = keras.Model(inp, y)

    @tf.function(input_signature=[tf.TensorSpec([None, 32, 8], tf.float32, name="x")])
    def serve(x):
        return net(x)
    frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    graph_def = frozen.graph.as_graph_def()
    assert {"SpaceToBatchND", "BatchToSpaceND"} <= {n.op for n in graph_def.node}
    x = _f32((3, 32, 8), 42, 1.0)
    out = frozen.outputs[0].name.split(":")[0]
    got = pbmem.load(tfcheck.save_graph_bytes(graph_def.SerializeToString(), "keras_conv1d")).run(
        {"x": x}, outputs=[out])[out]
    tfcheck.assert_matches(got, serve(x).numpy(), name=out)
