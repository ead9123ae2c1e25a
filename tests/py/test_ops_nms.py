"""Conformance with TF of NonMaxSuppressionV4/V5 (pad_to_max_output_size) and
CombinedNonMaxSuppression (issue 17): tie-breaking, flipped boxes, thresholds, padding, clipping."""
import numpy as np
import pytest

import tfcheck
from tfcheck import check_against_tf, rng


def _boxes(n, seed, flip=True):
    r = rng(seed)
    y1, x1 = r.uniform(-0.1, 0.8, n), r.uniform(-0.1, 0.8, n)
    h, w = r.uniform(0.05, 0.4, n), r.uniform(0.05, 0.4, n)
    boxes = np.stack([y1, x1, y1 + h, x1 + w], axis=1)
    if flip:  # corners in either order
        swap = r.random(n) < 0.3
        boxes[swap] = boxes[swap][:, [2, 3, 0, 1]]
    return boxes.astype(np.float32)


def test_nms_v4_v5():
    tf = tfcheck._tf()
    boxes = _boxes(40, 1)
    boxes[5] = boxes[6]               # duplicates and an empty box
    boxes[7] = [0.2, 0.2, 0.2, 0.5]
    scores = rng(2).integers(0, 6, 40).astype(np.float32) / 5  # many equal scores

    def build(boxes, scores):
        outs = []
        for size, iou, thr in ((10, 0.5, 0.0), (40, 0.3, -1.0), (5, 0.0, 0.5), (50, 1.0, 0.2), (0, 0.5, 0.0)):
            sel, valid = tf.raw_ops.NonMaxSuppressionV4(
                boxes=boxes, scores=scores, max_output_size=size, iou_threshold=iou,
                score_threshold=thr, pad_to_max_output_size=True)
            outs += [sel, valid]
        sel, sc, valid = tf.raw_ops.NonMaxSuppressionV5(
            boxes=boxes, scores=scores, max_output_size=12, iou_threshold=0.4, score_threshold=0.1,
            soft_nms_sigma=0.0, pad_to_max_output_size=True)
        return outs + [sel, sc, valid]
    check_against_tf(build, {"boxes": boxes, "scores": scores}, stem="nms_v4")


def test_nms_v4_fed_thresholds():
    tf = tfcheck._tf()
    build = lambda b, s, iou, thr: list(tf.raw_ops.NonMaxSuppressionV4(
        boxes=b, scores=s, max_output_size=7, iou_threshold=iou, score_threshold=thr,
        pad_to_max_output_size=True))
    check_against_tf(build, {"b": _boxes(25, 3), "s": rng(4).random(25).astype(np.float32),
                             "iou": np.float32(0.45), "thr": np.float32(0.3)}, stem="nms_v4_fed")


def test_nms_bad_iou_threshold():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(
        lambda b, s, iou: tf.raw_ops.NonMaxSuppressionV4(boxes=b, scores=s, max_output_size=3, iou_threshold=iou,
                                                         score_threshold=0.0, pad_to_max_output_size=True)[0],
        {"b": (np.float32, (4, 4)), "s": (np.float32, (4,)), "iou": (np.float32, ())},
        {"b": _boxes(4, 5), "s": np.ones(4, np.float32), "iou": np.float32(1.5)}, "bad_nms_iou",
        "iou_threshold must be in [0, 1]")


def test_nms_unpadded_is_unsupported():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(
        lambda b, s: tf.raw_ops.NonMaxSuppressionV4(boxes=b, scores=s, max_output_size=3, iou_threshold=0.5,
                                                    score_threshold=0.0)[0],
        {"b": (np.float32, (4, 4)), "s": (np.float32, (4,))},
        {"b": _boxes(4, 5), "s": np.ones(4, np.float32)}, "bad_nms_unpadded", "pad_to_max_output_size")


@pytest.mark.parametrize("pad_per_class,clip_boxes", [(False, True), (True, False), (True, True)])
def test_combined_nms(pad_per_class, clip_boxes):
    tf = tfcheck._tf()
    batch, n, classes = 3, 30, 4
    shared = np.stack([_boxes(n, 10 + b) for b in range(batch)])[:, :, None, :]
    per_class = np.stack([np.stack([_boxes(n, 20 + b * classes + c) for c in range(classes)], axis=1)
                          for b in range(batch)])
    scores = (rng(6).integers(0, 8, (batch, n, classes)) / 7).astype(np.float32)

    def build(shared, per_class, scores):
        outs = []
        for boxes, per, total in ((shared, 5, 12), (per_class, 3, 100), (shared, 30, 7)):
            outs += list(tf.image.combined_non_max_suppression(
                boxes, scores, per, total, iou_threshold=0.5, score_threshold=0.2,
                pad_per_class=pad_per_class, clip_boxes=clip_boxes))
        return outs
    check_against_tf(build, {"shared": shared, "per_class": per_class, "scores": scores}, dynamic_batch=True,
                     stem="nms_combined")


def test_combined_nms_bad_q():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(
        lambda b, s: tf.raw_ops.CombinedNonMaxSuppression(boxes=b, scores=s, max_output_size_per_class=2,
                                                          max_total_size=4, iou_threshold=0.5,
                                                          score_threshold=0.0)[0],
        {"b": (np.float32, (1, 5, None, 4)), "s": (np.float32, (1, 5, 3))},
        {"b": np.zeros((1, 5, 2, 4), np.float32), "s": np.zeros((1, 5, 3), np.float32)}, "bad_cnms_q",
        "1 or num_classes")
