"""Conformance of Conv2D, DepthwiseConv2dNative, Conv2DBackpropInput and BiasAdd with TF."""
import numpy as np
import pytest

import tfcheck
from tfcheck import check_against_tf, rng


def _weights(shape, fan_in, seed=1):
    return (rng(seed).standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)


def _images(shape, seed=0):
    return rng(seed).standard_normal(shape).astype(np.float32)


def _graph_only(build_fn, inputs, stem):
    """Builds a graph without running it in TF (for attributes TF's CPU kernels reject)."""
    tf = tfcheck._tf()
    graph = tf.Graph()
    with graph.as_default():
        placeholders = {name: tf.compat.v1.placeholder(tf.float32, shape=value.shape, name=name)
                        for name, value in inputs.items()}
        tf.identity(build_fn(**placeholders), name="out0")
    return tfcheck.save_graph_bytes(graph.as_graph_def().SerializeToString(), stem)


# (input shape, filter shape [KH, KW, C_in, C_out], strides, padding, dilations)
CONV_CASES = [
    ((1, 8, 8, 3), (3, 3, 3, 4), (1, 1), "SAME", (1, 1)),
    ((2, 7, 9, 5), (3, 3, 5, 8), (2, 2), "SAME", (1, 1)),
    ((2, 7, 9, 5), (3, 3, 5, 8), (2, 2), "VALID", (1, 1)),
    ((1, 10, 10, 4), (3, 3, 4, 6), (1, 1), "SAME", (2, 2)),
    ((1, 10, 11, 4), (3, 2, 4, 6), (1, 1), "VALID", (2, 1)),
    ((1, 11, 11, 4), (3, 3, 4, 5), (2, 2), "SAME", (2, 2)),
    ((1, 9, 9, 3), (5, 5, 3, 4), (2, 1), [[0, 0], [1, 2], [2, 1], [0, 0]], (1, 1)),
    ((2, 5, 5, 16), (1, 1, 16, 8), (1, 1), "VALID", (1, 1)),
    ((1, 9, 9, 6), (3, 3, 2, 9), (1, 1), "SAME", (1, 1)),  # grouped: 3 groups
]


@pytest.mark.parametrize("x_shape,w_shape,strides,padding,dilations", CONV_CASES)
def test_conv2d(x_shape, w_shape, strides, padding, dilations):
    tf = tfcheck._tf()
    w = _weights(w_shape, w_shape[0] * w_shape[1] * w_shape[2])
    check_against_tf(
        lambda x: tf.nn.conv2d(x, tf.constant(w), strides=list(strides), padding=padding,
                               dilations=list(dilations)),
        {"x": _images(x_shape)}, stem="conv2d")


def test_conv2d_dynamic_batch_with_bias_relu():
    tf = tfcheck._tf()
    w = _weights((3, 3, 3, 8), 27)
    b = _weights((8,), 1, seed=2)
    check_against_tf(
        lambda x: tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, tf.constant(w), 2, "SAME"),
                                            tf.constant(b))),
        {"x": _images((3, 9, 8, 3))}, dynamic_batch=True, stem="conv2d_dyn")


def test_conv2d_filter_computed_at_run_time():
    tf = tfcheck._tf()
    check_against_tf(lambda x, w: tf.nn.conv2d(x, w, 1, "SAME"),
                     {"x": _images((1, 6, 7, 4)), "w": _weights((3, 3, 4, 5), 36)},
                     stem="conv2d_wvar")


def test_conv2d_nchw_is_unimplemented():
    tf = tfcheck._tf()
    import pbmem
    w = _weights((3, 3, 4, 5), 36)
    x = _images((1, 4, 6, 6))
    path = _graph_only(lambda x: tf.nn.conv2d(x, tf.constant(w), 1, "SAME", data_format="NCHW"),
                       {"x": x}, "conv2d_nchw")
    with pytest.raises(pbmem.Error, match="NCHW"):
        pbmem.load(path).run({"x": x}, outputs=["out0"])


# (input shape, multiplier, strides, padding)
DEPTHWISE_CASES = [
    ((1, 8, 8, 4), 1, (1, 1), "SAME"),
    ((2, 7, 9, 3), 2, (2, 2), "SAME"),
    ((2, 7, 9, 3), 1, (2, 2), "VALID"),
    ((1, 10, 10, 5), 2, (1, 1), "VALID"),
    ((1, 9, 9, 4), 2, (1, 1), [[0, 0], [1, 2], [2, 1], [0, 0]]),
]


@pytest.mark.parametrize("x_shape,multiplier,strides,padding", DEPTHWISE_CASES)
def test_depthwise_conv2d(x_shape, multiplier, strides, padding):
    tf = tfcheck._tf()
    w = _weights((3, 3, x_shape[3], multiplier), 9)
    check_against_tf(
        lambda x: tf.nn.depthwise_conv2d(x, tf.constant(w), [1, strides[0], strides[1], 1],
                                         padding),
        {"x": _images(x_shape)}, stem="depthwise")


def test_depthwise_conv2d_dynamic_batch():
    tf = tfcheck._tf()
    w = _weights((3, 3, 6, 1), 9)
    check_against_tf(lambda x: tf.nn.depthwise_conv2d(x, tf.constant(w), [1, 2, 2, 1], "SAME"),
                     {"x": _images((2, 11, 10, 6))}, dynamic_batch=True, stem="depthwise_dyn")


def test_depthwise_conv2d_dilated():
    # TF's CPU kernel rejects dilations (tf.nn.depthwise_conv2d rewrites them with
    # SpaceToBatchND), so the raw op runs in pbmem only and TF's rewrite is the reference.
    tf = tfcheck._tf()
    import pbmem
    x = _images((1, 11, 10, 4))
    w = _weights((3, 3, 4, 2), 9)
    path = _graph_only(
        lambda x: tf.raw_ops.DepthwiseConv2dNative(input=x, filter=tf.constant(w),
                                                   strides=[1, 1, 1, 1], padding="SAME",
                                                   dilations=[1, 2, 2, 1]),
        {"x": x}, "depthwise_dilated")
    want = tf.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], "SAME", dilations=[2, 2]).numpy()
    got = pbmem.load(path).run({"x": x}, outputs=["out0"])["out0"]
    tfcheck.assert_matches(got, want)


# (out_backprop shape, forward input shape = output, filter [KH, KW, C_out, C_in], strides, pad)
TRANSPOSE_CASES = [
    ((1, 4, 4, 6), (1, 8, 8, 3), (3, 3, 3, 6), 2, "SAME"),
    ((2, 4, 4, 6), (2, 7, 7, 3), (3, 3, 3, 6), 2, "SAME"),
    ((2, 3, 3, 6), (2, 7, 7, 3), (3, 3, 3, 6), 2, "VALID"),
    ((2, 3, 3, 6), (2, 8, 8, 3), (3, 3, 3, 6), 2, "VALID"),
    ((1, 5, 6, 4), (1, 5, 6, 2), (3, 2, 2, 4), 1, "SAME"),
    ((1, 3, 4, 4), (1, 6, 8, 5), (2, 2, 5, 4), 2, "VALID"),
]


@pytest.mark.parametrize("dy_shape,out_shape,w_shape,stride,padding", TRANSPOSE_CASES)
def test_conv2d_transpose(dy_shape, out_shape, w_shape, stride, padding):
    tf = tfcheck._tf()
    w = _weights(w_shape, w_shape[0] * w_shape[1] * w_shape[3])
    check_against_tf(
        lambda x: tf.nn.conv2d_transpose(x, tf.constant(w), list(out_shape), stride, padding),
        {"x": _images(dy_shape)}, stem="conv2d_transpose")


def test_conv2d_backprop_input_explicit_padding():
    tf = tfcheck._tf()
    w = _weights((3, 3, 3, 4), 36)
    check_against_tf(
        lambda x: tf.raw_ops.Conv2DBackpropInput(
            input_sizes=tf.constant([1, 7, 8, 3]), filter=tf.constant(w), out_backprop=x,
            strides=[1, 2, 2, 1], padding="EXPLICIT", explicit_paddings=[0, 0, 1, 0, 0, 2, 0, 0]),
        {"x": _images((1, 3, 4, 4))}, stem="conv2d_bpi_explicit")


def test_conv2d_transpose_dynamic_batch():
    tf = tfcheck._tf()
    w = _weights((3, 3, 3, 6), 54)

    def build(x):
        out_shape = tf.stack([tf.shape(x)[0], 8, 8, 3])
        return tf.nn.conv2d_transpose(x, tf.constant(w), out_shape, 2, "SAME")

    check_against_tf(build, {"x": _images((2, 4, 4, 6))}, dynamic_batch=True,
                     stem="conv2d_transpose_dyn")


@pytest.mark.parametrize("shape,data_format", [
    ((2, 3, 4, 5), "NHWC"),
    ((3, 7), "NHWC"),
    ((2, 3, 4, 5), "NCHW"),
    ((2, 6, 4), "NCHW"),
])
def test_bias_add(shape, data_format):
    tf = tfcheck._tf()
    channels = shape[1] if data_format == "NCHW" else shape[-1]
    b = _weights((channels,), 1, seed=3)
    check_against_tf(lambda x: tf.nn.bias_add(x, tf.constant(b), data_format=data_format),
                     {"x": _images(shape)}, stem="bias_add")


def test_bias_add_v1_dynamic_batch():
    tf = tfcheck._tf()
    b = _weights((5,), 1, seed=4)
    check_against_tf(lambda x: tf.raw_ops.BiasAddV1(value=x, bias=tf.constant(b)),
                     {"x": _images((3, 4, 5))}, dynamic_batch=True, stem="bias_add_v1")


def _graph_with_attr(build_fn, inputs, op, attr, values, stem):
    """A valid graph whose `op` node then gets list attribute `attr` = values."""
    tf = tfcheck._tf()
    graph = tf.Graph()
    with graph.as_default():
        placeholders = {name: tf.compat.v1.placeholder(tf.float32, shape=value.shape, name=name)
                        for name, value in inputs.items()}
        tf.identity(build_fn(**placeholders), name="out0")
    graph_def = graph.as_graph_def()
    for node in graph_def.node:
        if node.op == op:
            del node.attr[attr].list.i[:]
            node.attr[attr].list.i.extend(values)
    return tfcheck.save_graph_bytes(graph_def.SerializeToString(), stem)


@pytest.mark.parametrize("attr,values,message", [
    ("strides", [2, 1, 1, 1], "strides"),
    ("strides", [1, 1, 1], "'strides' must have 4 entries"),
    ("dilations", [1, 0, 1, 1], "dilations"),
    ("explicit_paddings", [0, 0, 1, 1], "explicit_paddings"),
])
def test_conv2d_bad_attributes_are_rejected(attr, values, message):
    tf = tfcheck._tf()
    import pbmem
    w = _weights((3, 3, 2, 2), 18)
    x = _images((1, 5, 5, 2))
    path = _graph_with_attr(lambda x: tf.nn.conv2d(x, tf.constant(w), 1, "SAME"), {"x": x},
                            "Conv2D", attr, values, "conv2d_bad")
    with pytest.raises(pbmem.Error, match=message):
        pbmem.load(path).run({"x": x}, outputs=["out0"])
