"""Conformance with TF of Dilation2D (issue 17): strides, rates, SAME/VALID, float and int dtypes."""
import numpy as np

import tfcheck
from tfcheck import check_against_tf, rng


def test_dilation2d():
    tf = tfcheck._tf()
    f = (rng(1).standard_normal((3, 2, 3)) * 2).astype(np.float32)
    fi = rng(2).integers(-5, 5, (2, 3, 2)).astype(np.int32)

    def build(x, xi):
        d = tf.nn.dilation2d
        return [d(x, f, [1, 1, 1, 1], "SAME", "NHWC", [1, 1, 1, 1]),
                d(x, f, [1, 2, 1, 1], "VALID", "NHWC", [1, 1, 2, 1]),
                d(x, f, [1, 2, 3, 1], "SAME", "NHWC", [1, 3, 2, 1]),    # windows partly outside
                d(tf.cast(x, tf.float64), f.astype(np.float64), [1, 1, 1, 1], "SAME", "NHWC", [1, 2, 2, 1]),
                d(xi, fi, [1, 1, 2, 1], "SAME", "NHWC", [1, 1, 1, 1]),
                d(tf.cast(xi, tf.int64), fi.astype(np.int64), [1, 3, 1, 1], "VALID", "NHWC", [1, 1, 1, 1])]
    check_against_tf(build, {"x": (rng(3).standard_normal((2, 7, 6, 3)) * 3).astype(np.float32),
                             "xi": rng(4).integers(-50, 50, (2, 5, 6, 2)).astype(np.int32)},
                     dynamic_batch=True, stem="dilation2d")


def test_dilation2d_bad_depth():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(
        lambda x: tf.nn.dilation2d(x, np.zeros((2, 2, 3), np.float32), [1, 1, 1, 1], "SAME", "NHWC", [1, 1, 1, 1]),
        {"x": (np.float32, (1, 4, 4, None))}, {"x": np.zeros((1, 4, 4, 2), np.float32)}, "bad_dilation",
        "filter depth")
