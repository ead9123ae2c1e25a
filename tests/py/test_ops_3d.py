"""Conformance with TF of Conv3D, MaxPool3D and AvgPool3D (NDHWC, issue 17): strides, SAME/VALID,
odd sizes, a fed filter, dynamic batch, and dilations (checked against TF's dense conv with the
zero-dilated filter, since TF's CPU Conv3D rejects dilations > 1)."""
import numpy as np
import pytest

import tfcheck
from tfcheck import check_against_tf, rng


def _f32(shape, seed=0, scale=1.0):
    return (rng(seed).standard_normal(shape) * scale).astype(np.float32)


def test_conv3d():
    tf = tfcheck._tf()
    f1 = _f32((3, 3, 3, 4, 5), 1)
    f2 = _f32((2, 1, 3, 4, 2), 2)

    def build(x):
        return [tf.nn.conv3d(x, f1, [1, 1, 1, 1, 1], "SAME"),
                tf.nn.conv3d(x, f1, [1, 2, 2, 2, 1], "SAME"),
                tf.nn.conv3d(x, f2, [1, 1, 2, 3, 1], "VALID"),
                tf.nn.relu(tf.nn.conv3d(x, f2, [1, 3, 1, 1, 1], "SAME") + 1.0)]
    check_against_tf(build, {"x": _f32((2, 5, 6, 7, 4), 3)}, dynamic_batch=True, stem="conv3d")


def test_conv3d_fed_filter():
    tf = tfcheck._tf()
    check_against_tf(lambda x, f: tf.nn.conv3d(x, f, [1, 1, 2, 1, 1], "SAME"),
                     {"x": _f32((1, 4, 5, 3, 2), 4), "f": _f32((2, 2, 2, 2, 3), 5)}, stem="conv3d_fed")


def test_conv3d_dilated():
    """pbmem's dilated Conv3D equals TF's dense Conv3D with the zero-dilated filter."""
    tf = tfcheck._tf()
    import pbmem
    f = _f32((2, 3, 2, 3, 4), 6)
    dense = np.zeros((3, 5, 4, 3, 4), np.float32)   # dilations (2, 2, 3)
    dense[::2, ::2, ::3] = f
    x = _f32((2, 6, 7, 8, 3), 7)
    _, _, want = tfcheck.build_tf1_graph(lambda x: [tf.nn.conv3d(x, dense, [1, 1, 1, 1, 1], "SAME"),
                                                    tf.nn.conv3d(x, dense, [1, 2, 1, 2, 1], "VALID")], {"x": x})
    path, names = tfcheck.graph_without_tf(
        lambda x: [tf.nn.conv3d(x, f, [1, 1, 1, 1, 1], "SAME", dilations=[1, 2, 2, 3, 1]),
                   tf.nn.conv3d(x, f, [1, 2, 1, 2, 1], "VALID", dilations=[1, 2, 2, 3, 1])],
        {"x": (np.float32, (2, 6, 7, 8, 3))}, "conv3d_dilated")
    got = pbmem.load(path).run({"x": x}, outputs=names)
    for name, w in zip(names, want):
        tfcheck.assert_matches(got[name], w, name)


@pytest.mark.parametrize("op", ["max_pool3d", "avg_pool3d"])
def test_pool3d(op):
    tf = tfcheck._tf()
    fn = getattr(tf.nn, op)

    def build(x):
        return [fn(x, [1, 2, 2, 2, 1], [1, 2, 2, 2, 1], "VALID"),
                fn(x, [1, 3, 3, 3, 1], [1, 2, 2, 2, 1], "SAME"),   # padded windows at the edges
                fn(x, [1, 1, 3, 2, 1], [1, 1, 1, 3, 1], "SAME"),
                fn(x - 5.0, [1, 5, 6, 7, 1], [1, 1, 1, 1, 1], "VALID")]  # one global window
    check_against_tf(build, {"x": _f32((2, 5, 6, 7, 3), 8)}, dynamic_batch=True, stem=f"pool3d_{op}")


def test_conv3d_bad_channels():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda x: tf.nn.conv3d(x, np.ones((1, 1, 1, 2, 2), np.float32), [1] * 5, "SAME"),
                               {"x": (np.float32, (1, 2, 2, 2, None))}, {"x": np.zeros((1, 2, 2, 2, 4), np.float32)},
                               "bad_conv3d_c", "filter's input depth")


def test_pool3d_window_larger_than_input():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda x: tf.nn.max_pool3d(x, [1, 4, 1, 1, 1], [1, 1, 1, 1, 1], "VALID"),
                               {"x": (np.float32, (1, None, 2, 2, 1))}, {"x": np.zeros((1, 2, 2, 2, 1), np.float32)},
                               "bad_pool3d", "depth")
