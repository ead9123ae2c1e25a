"""Conformance of ResizeBilinear and ResizeNearestNeighbor with TF (src/kernels/resize.cc):
up- and down-sampling with every valid (align_corners, half_pixel_centers) combination."""
import numpy as np
import pytest

import tfcheck
from tfcheck import check_against_tf
from test_ops_array import _f32, _ints, _run_expect_error

SIZES = [
    ((1, 4, 5, 3), (8, 10)),    # 2x up
    ((2, 5, 7, 2), (9, 4)),     # mixed up/down, odd ratios
    ((1, 9, 8, 1), (3, 3)),     # down
    ((1, 3, 3, 2), (1, 1)),     # to a single pixel (align_corners uses in/out then)
    ((1, 1, 1, 4), (3, 2)),     # from a single pixel
    ((1, 6, 6, 3), (6, 6)),     # same size
]
ATTRS = [(False, False), (True, False), (False, True)]  # (align_corners, half_pixel_centers)


@pytest.mark.parametrize("in_shape,size", SIZES)
@pytest.mark.parametrize("align_corners,half_pixel", ATTRS)
@pytest.mark.parametrize("op", ["ResizeBilinear", "ResizeNearestNeighbor"])
def test_resize(op, in_shape, size, align_corners, half_pixel):
    tf = tfcheck._tf()
    fn = getattr(tf.raw_ops, op)
    check_against_tf(lambda x: fn(images=x, size=tf.constant(size, tf.int32), align_corners=align_corners,
                                  half_pixel_centers=half_pixel),
                     {"x": _f32(in_shape)}, stem="resize")


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float64, np.float16, np.int16])
@pytest.mark.parametrize("op", ["ResizeBilinear", "ResizeNearestNeighbor"])
def test_resize_dtypes(op, dtype):
    """Bilinear turns every input dtype into float; nearest keeps it."""
    tf = tfcheck._tf()
    fn = getattr(tf.raw_ops, op)
    x = _ints((2, 4, 3, 2), dtype=np.int64, low=0, high=200).astype(dtype)
    check_against_tf(lambda x: fn(images=x, size=[7, 5], half_pixel_centers=True), {"x": x}, stem="resize_dt")


def test_resize_v2_api_dynamic_batch():
    tf = tfcheck._tf()
    check_against_tf(lambda x: (tf.image.resize(x, [6, 9], method="bilinear"),
                                tf.image.resize(x, [2, 3], method="nearest")),
                     {"x": _f32((3, 4, 5, 2))}, dynamic_batch=True, stem="resize_v2")


def test_resize_size_from_shape():
    """Keras UpSampling2D computes the size from the input's shape: a folded shape subgraph."""
    tf = tfcheck._tf()
    check_against_tf(lambda x: tf.compat.v1.image.resize_nearest_neighbor(x, tf.shape(x)[1:3] * 2),
                     {"x": _f32((2, 3, 4, 2))}, dynamic_batch=True, stem="resize_keras")


def test_resize_size_from_a_graph_input_is_an_error():
    tf = tfcheck._tf()
    _run_expect_error(lambda x, s: tf.raw_ops.ResizeBilinear(images=x, size=s),
                      {"x": (np.float32, (1, 2, 2, 1)), "s": (np.int32, (2,))},
                      {"x": _f32((1, 2, 2, 1)), "s": np.array([3, 3], np.int32)}, "resize_fed",
                      "ResizeBilinear", "'size' must be a constant")


@pytest.mark.parametrize("op", ["ResizeBilinear", "ResizeNearestNeighbor"])
def test_resize_bad_attributes_and_sizes_are_errors(op):
    tf = tfcheck._tf()
    fn = getattr(tf.raw_ops, op)
    specs = {"x": (np.float32, (1, None, None, 1))}
    feeds = {"x": _f32((1, 2, 2, 1))}
    _run_expect_error(lambda x: fn(images=x, size=tf.constant([0, 3]), half_pixel_centers=True),
                      specs, feeds, "resize_zero", op, "positive")
    _run_expect_error(lambda x: fn(images=x, size=[3, 3], align_corners=True, half_pixel_centers=True),
                      specs, feeds, "resize_attrs", op, "align_corners")
