"""Conformance of StridedSlice (every mask, negative strides, clamping), Slice, Pad, PadV2 and
MirrorPad with TF (src/kernels/strided_slice.cc, slice_pad.cc)."""
import numpy as np
import pytest

import tfcheck
from tfcheck import check_against_tf, rng
from test_ops_array import _f32, _ints, _run_expect_error

# Python indexing on a tensor of shape (4, 5, 6) builds StridedSlice with the matching masks.
SLICES = {
    "range": lambda x: x[1:3],
    "neg_stride": lambda x: x[::-1],
    "neg_stride_bounds": lambda x: x[3:0:-2, ::-3],
    "shrink": lambda x: x[2],
    "shrink_neg": lambda x: x[-1, :, -2],
    "ellipsis_last": lambda x: x[..., 1],
    "ellipsis_mid": lambda x: x[1, ..., 2:5],
    "new_axis": lambda x: x[:, None, 1:4],
    "new_axis_ellipsis": lambda x: x[None, ..., None, 0],
    "clamp": lambda x: x[-100:100, 2:100, -7:],
    "empty": lambda x: x[3:1],
    "empty_neg": lambda x: x[1:3:-1],
    "step": lambda x: x[::2, 1::3, ::4],
    "mixed": lambda x: x[1:, None, ::-2, 3],
    "all_masks": lambda x: x[:, ..., None],
}


@pytest.mark.parametrize("name", sorted(SLICES))
def test_strided_slice_python_indexing(name):
    check_against_tf(SLICES[name], {"x": _f32((4, 5, 6))}, stem="sslice")


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.bool_, np.int64, np.float16])
def test_strided_slice_dtypes(dtype):
    x = _ints((4, 5), dtype=np.int64, low=0, high=100).astype(dtype)
    check_against_tf(lambda x: x[::-1, 1:4], {"x": x}, stem="sslice_dt")


# (begin, end, strides, begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask)
RAW_SPECS = [
    ([1, 0], [3, 0], [1, 1], 0, 2, 0, 0, 0),
    ([0, 2], [0, 0], [1, -1], 1, 3, 0, 0, 0),
    ([0, 1, 0], [0, 2, 0], [1, 1, 1], 0, 0, 1, 0, 2),      # ellipsis first, then a shrink
    ([1, 0, 0], [2, 0, 0], [1, 1, 1], 0, 0, 2, 4, 1),      # shrink, ellipsis, new axis after it
    ([0, 0], [1, 1], [1, 1], 0, 0, 0, 1, 1),               # new axis and shrink on one bit
    ([-1], [-5], [-1], 0, 0, 0, 0, 0),
    ([-2, -1], [0, 0], [-1, -2], 0, 3, 0, 0, 0),
    ([2, 3, 4], [0, 0, 0], [-1, -1, -1], 0, 0, 0, 0, 0),
    ([0], [0], [1], 0, 0, 1, 0, 0),                        # a lone ellipsis: identity
    ([5, 0], [-5, 0], [-2, 1], 0, 2, 0, 0, 0),
]


@pytest.mark.parametrize("spec", RAW_SPECS)
def test_strided_slice_raw_masks(spec):
    tf = tfcheck._tf()
    b, e, s, bm, em, elm, nam, sam = spec

    def build(x):
        return tf.raw_ops.StridedSlice(input=x, begin=tf.constant(b), end=tf.constant(e),
                                       strides=tf.constant(s), begin_mask=bm, end_mask=em,
                                       ellipsis_mask=elm, new_axis_mask=nam, shrink_axis_mask=sam)
    check_against_tf(build, {"x": _f32((4, 5, 6))}, stem="sslice_raw")


def test_strided_slice_random_specs():
    """Many random specs in one graph (one TF session): every mask and sign combination."""
    tf = tfcheck._tf()
    r = rng(7)
    shape = (3, 4, 5)
    specs = []
    graph = tf.Graph()
    with graph.as_default():
        probe = tf.compat.v1.placeholder(tf.float32, shape)
        while len(specs) < 40:
            n = int(r.integers(1, 5))
            spec = ([int(v) for v in r.integers(-7, 7, n)], [int(v) for v in r.integers(-7, 7, n)],
                    [int(v) for v in r.choice([-3, -2, -1, 1, 2, 3], n)],
                    *(int(r.integers(0, 1 << n)) for _ in range(2)),
                    int(r.choice([0] + [1 << i for i in range(n)])),
                    int(r.integers(0, 1 << n)), int(r.integers(0, 1 << n)))
            try:  # keep only the specs TF's own shape inference accepts
                tf.raw_ops.StridedSlice(input=probe, begin=spec[0], end=spec[1], strides=spec[2],
                                        begin_mask=spec[3], end_mask=spec[4], ellipsis_mask=spec[5],
                                        new_axis_mask=spec[6], shrink_axis_mask=spec[7])
            except (ValueError, tf.errors.InvalidArgumentError):
                continue
            specs.append(spec)

    def build(x):
        return [tf.raw_ops.StridedSlice(input=x, begin=tf.constant(b), end=tf.constant(e),
                                        strides=tf.constant(s), begin_mask=bm, end_mask=em,
                                        ellipsis_mask=elm, new_axis_mask=nam, shrink_axis_mask=sam)
                for b, e, s, bm, em, elm, nam, sam in specs]
    check_against_tf(build, {"x": _f32(shape)}, stem="sslice_random")


def test_strided_slice_keras_shape_patterns():
    tf = tfcheck._tf()
    check_against_tf(lambda x: (tf.shape(x)[0], tf.shape(x)[1:], tf.shape(x)[-1],
                                tf.reshape(x, [tf.shape(x)[0], tf.shape(x)[1] * tf.shape(x)[2]])),
                     {"x": _f32((3, 4, 5))}, dynamic_batch=True, stem="sslice_keras")


def test_strided_slice_dynamic_batch():
    check_against_tf(lambda x: x[:, ::-1, 1], {"x": _f32((3, 4, 5))}, dynamic_batch=True, stem="sslice_dyn")


def test_strided_slice_out_of_bounds_is_an_error():
    _run_expect_error(lambda x: x[5], {"x": (np.float32, (None, 3))}, {"x": _f32((2, 3))},
                      "sslice_bad", "StridedSlice", "out of bounds")


@pytest.mark.parametrize("shape,begin,size", [
    ((4, 5), [1, 2], [2, 3]), ((4, 5), [0, 0], [-1, -1]), ((4, 5, 6), [3, 1, 0], [1, -1, 4]),
    ((4, 5), [4, 5], [0, 0]), ((6,), [2], [-1]),
])
def test_slice(shape, begin, size):
    tf = tfcheck._tf()
    check_against_tf(lambda x: tf.slice(x, begin, size), {"x": _f32(shape)}, stem="slice")


def test_slice_dynamic_batch():
    tf = tfcheck._tf()
    check_against_tf(lambda x: tf.slice(x, [0, 1], [-1, 2]), {"x": _ints((3, 4))}, dynamic_batch=True,
                     stem="slice_dyn")


@pytest.mark.parametrize("shape,paddings", [
    ((2, 3), [[1, 2], [0, 3]]), ((1, 4, 4, 2), [[0, 0], [1, 1], [2, 0], [0, 0]]), ((5,), [[0, 0]]),
    ((2, 3), [[0, 0], [0, 0]]), ((), []), ((2, 0), [[1, 1], [1, 0]]),
])
@pytest.mark.parametrize("value", [0.0, -1.5])
def test_pad(shape, paddings, value):
    tf = tfcheck._tf()
    p = np.array(paddings, dtype=np.int32).reshape(len(shape), 2)
    check_against_tf(lambda x: tf.pad(x, p, constant_values=value), {"x": _f32(shape)}, stem="pad")


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.int64, np.bool_])
def test_pad_dtypes(dtype):
    tf = tfcheck._tf()
    x = _ints((2, 3), dtype=np.int64, low=0, high=100).astype(dtype)
    value = True if dtype == np.bool_ else 7
    check_against_tf(lambda x: (tf.pad(x, [[1, 0], [2, 1]]), tf.pad(x, [[0, 1], [1, 1]], constant_values=value)),
                     {"x": x}, stem="pad_dt")


def test_pad_dynamic_batch():
    tf = tfcheck._tf()
    check_against_tf(lambda x: tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), {"x": _f32((2, 3, 3, 2))},
                     dynamic_batch=True, stem="pad_dyn")


@pytest.mark.parametrize("mode", ["REFLECT", "SYMMETRIC"])
@pytest.mark.parametrize("shape,paddings", [
    ((4, 5), [[1, 2], [3, 0]]), ((3, 3), [[2, 2], [2, 2]]), ((1, 5, 4, 2), [[0, 0], [2, 1], [1, 3], [0, 0]]),
    ((6,), [[0, 0]]), ((2, 3, 4), [[1, 1], [0, 2], [3, 3]]),
])
def test_mirror_pad(mode, shape, paddings):
    tf = tfcheck._tf()
    limit = 0 if mode == "SYMMETRIC" else 1
    for d, (a, b) in enumerate(paddings):
        if max(a, b) > shape[d] - limit:
            pytest.skip("padding beyond TF's limit for this mode")
    check_against_tf(lambda x: tf.pad(x, paddings, mode=mode), {"x": _f32(shape)}, stem="mirror_pad")


def test_mirror_pad_ints_dynamic_batch():
    tf = tfcheck._tf()
    check_against_tf(lambda x: tf.pad(x, [[0, 0], [2, 1]], mode="REFLECT"), {"x": _ints((3, 4))},
                     dynamic_batch=True, stem="mirror_pad_dyn")


@pytest.mark.parametrize("mode,pad,fragment", [("REFLECT", 3, "less than"), ("SYMMETRIC", 4, "no greater")])
def test_mirror_pad_limits_are_errors(mode, pad, fragment):
    tf = tfcheck._tf()
    _run_expect_error(lambda x: tf.pad(x, [[0, 0], [pad, 0]], mode=mode), {"x": (np.float32, (None, None))},
                      {"x": _f32((2, 3))}, "mirror_pad_bad", "MirrorPad", fragment)
