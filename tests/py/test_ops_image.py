"""Conformance with TF of ResizeBicubic and CropAndResize (issue 17): TF's cubic kernel table and
coordinate transforms, boxes that flip or leave the image (extrapolation), both methods, and errors.
"""
import numpy as np
import pytest

import tfcheck
from tfcheck import check_against_tf, rng

from test_ops_resize import SIZES, ATTRS


def _f32(shape, seed=0, scale=3.0):
    return (rng(seed).standard_normal(shape) * scale).astype(np.float32)


@pytest.mark.parametrize("align_corners,half_pixel", ATTRS)
def test_resize_bicubic(align_corners, half_pixel):
    tf = tfcheck._tf()

    def build(**xs):
        return [tf.raw_ops.ResizeBicubic(images=xs[f"x{i}"], size=tf.constant(size, tf.int32),
                                         align_corners=align_corners, half_pixel_centers=half_pixel)
                for i, (_, size) in enumerate(SIZES)]
    check_against_tf(build, {f"x{i}": _f32(s, i) for i, (s, _) in enumerate(SIZES)}, stem="image_bicubic")


def test_resize_bicubic_dtypes_dynamic_batch():
    tf = tfcheck._tf()
    ints = rng(3).integers(0, 255, (2, 5, 4, 3))

    def build(u8, i32, f64):
        return [tf.raw_ops.ResizeBicubic(images=u8, size=[9, 7], half_pixel_centers=True),
                tf.raw_ops.ResizeBicubic(images=i32, size=[3, 2]),
                tf.raw_ops.ResizeBicubic(images=f64, size=[8, 8], align_corners=True),
                tf.image.resize(tf.cast(u8, tf.float32), [10, 3], method="bicubic")]
    check_against_tf(build, {"u8": ints.astype(np.uint8), "i32": ints.astype(np.int32),
                             "f64": ints.astype(np.float64) / 7}, dynamic_batch=True, stem="image_bicubic_dt")


def test_crop_and_resize():
    tf = tfcheck._tf()
    image = _f32((3, 7, 9, 2), 4)
    boxes = np.array([[0.1, 0.2, 0.8, 0.9],     # inside
                      [0.9, 0.8, 0.1, 0.3],     # flipped in both axes
                      [-0.5, -0.2, 1.3, 1.1],   # partly outside: extrapolation
                      [0.5, 0.5, 0.5, 0.5],     # a point
                      [0.0, 0.0, 1.0, 1.0]], np.float32)
    box_ind = np.array([0, 2, 1, 1, 2], np.int32)

    def build(image, boxes, box_ind):
        outs = []
        for method in ("bilinear", "nearest"):
            for size, extra in (([5, 4], 0.0), ([1, 1], -2.5), ([2, 7], 3.0)):
                outs.append(tf.image.crop_and_resize(image, boxes, box_ind, size, method=method,
                                                     extrapolation_value=extra))
        outs.append(tf.image.crop_and_resize(tf.cast(image * 10, tf.int32), boxes, box_ind, [3, 3]))
        outs.append(tf.image.crop_and_resize(tf.cast(image, tf.float16), boxes, box_ind, [4, 2]))
        outs.append(tf.image.crop_and_resize(image, boxes[:0], box_ind[:0], [4, 2]))
        return outs
    check_against_tf(build, {"image": image, "boxes": boxes, "box_ind": box_ind}, stem="image_crop")


def test_crop_and_resize_fed_boxes_dynamic_count():
    tf = tfcheck._tf()
    boxes = rng(5).uniform(-0.2, 1.2, (6, 4)).astype(np.float32)
    check_against_tf(lambda b, i: tf.image.crop_and_resize(tf.constant(_f32((2, 6, 5, 3), 6)), b, i, [4, 3]),
                     {"b": boxes, "i": np.array([0, 1, 1, 0, 1, 0], np.int32)}, dynamic_batch=True,
                     stem="image_crop_dyn")


def test_crop_and_resize_bad_box_ind():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda x, i: tf.image.crop_and_resize(x, [[0.0, 0.0, 1.0, 1.0]], i, [2, 2]),
                               {"x": (np.float32, (2, 4, 4, 1)), "i": (np.int32, (1,))},
                               {"x": np.zeros((2, 4, 4, 1), np.float32), "i": np.array([2], np.int32)},
                               "bad_crop_ind", "box_ind[0] = 2 is outside [0, 2)")


def test_crop_and_resize_bad_method():
    tf = tfcheck._tf()

    def set_method(graph_def):
        tfcheck.find_node(graph_def, "CropAndResize").attr["method"].s = b"bicubic"
    tfcheck.expect_pbmem_error(lambda x: tf.image.crop_and_resize(x, [[0.0, 0.0, 1.0, 1.0]], [0], [2, 2]),
                               {"x": (np.float32, (1, 4, 4, 1))}, {"x": np.zeros((1, 4, 4, 1), np.float32)},
                               "bad_crop_method", "'method' must be 'bilinear' or 'nearest'", mutate=set_method)
