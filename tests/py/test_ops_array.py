"""Conformance of the array ops (src/kernels/array_*.cc) with TF: pass-throughs, shape ops,
concat/split/pack/tile, gather, cast, shape queries and generators, plus their error messages."""
import numpy as np
import pytest

import tfcheck
from tfcheck import check_against_tf, rng


def _f32(shape, seed=0):
    return rng(seed).standard_normal(shape).astype(np.float32)


def _ints(shape, dtype=np.int32, low=-50, high=50, seed=1):
    return rng(seed).integers(low, high, size=shape).astype(dtype)


def _graph_only(build_fn, specs, stem):
    """Builds a graph without running TF (for graphs TF itself rejects at run time).
    specs: name -> (numpy dtype, shape with None for unknown dims). Returns (path, output names)."""
    tf = tfcheck._tf()
    graph = tf.Graph()
    with graph.as_default():
        phs = {n: tf.compat.v1.placeholder(tf.as_dtype(d), shape=s, name=n) for n, (d, s) in specs.items()}
        outs = build_fn(**phs)
        if not isinstance(outs, (list, tuple)):
            outs = [outs]
        outs = [tf.identity(o, name=f"out{i}") for i, o in enumerate(outs)]
    return tfcheck.save_graph_bytes(graph.as_graph_def().SerializeToString(), stem), [o.name for o in outs]


def _run_expect_error(build_fn, specs, feeds, stem, *fragments):
    import pbmem
    path, names = _graph_only(build_fn, specs, stem)
    with pytest.raises(pbmem.Error) as err:
        model = pbmem.load(path)
        model.run(feeds, outputs=names)
    message = str(err.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


# ---- pass-throughs ------------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["identity", "stop_gradient", "snapshot", "prevent_gradient",
                                "check_numerics"])
def test_identity_family(op):
    tf = tfcheck._tf()
    fns = {
        "identity": tf.identity,
        "stop_gradient": tf.stop_gradient,
        "snapshot": lambda x: tf.raw_ops.Snapshot(input=x),
        "prevent_gradient": lambda x: tf.raw_ops.PreventGradient(input=x),
        "check_numerics": lambda x: tf.debugging.check_numerics(x, "bad"),
    }
    check_against_tf(lambda x: fns[op](x) * 2.0, {"x": _f32((2, 3))}, stem=f"id_{op}")


def test_identity_n():
    tf = tfcheck._tf()
    check_against_tf(lambda x, y: tf.identity_n([x + 1.0, y * 2]),
                     {"x": _f32((2, 3)), "y": _ints((4,))}, stem="identity_n")


def test_identity_n_outputs_are_views_of_its_inputs():
    """IdentityN inside a graph (a fed input, a computed tensor and a constant) computes
    nothing: each output is a view of its input, so the plan needs no byte more than the same
    graph without it (Keras wraps every swish in one)."""
    import pbmem
    tf = tfcheck._tf()
    const = _f32((64, 64), seed=5)

    def with_identity_n(x):
        a, b, c = tf.identity_n([tf.nn.relu(x), x * 3.0, tf.constant(const)])
        return a + b + c

    def without(x):
        return tf.nn.relu(x) + x * 3.0 + tf.constant(const)
    feeds = {"x": _f32((64, 64), seed=6)}
    paths = [check_against_tf(fn, feeds, stem=f"identity_n_{name}")
             for name, fn in (("views", with_identity_n), ("none", without))]
    plans = [pbmem.load(p).plan(input_shapes={"x": (64, 64)}) for p in paths]
    # A constant is read in place from the file when its bytes happen to be aligned there, and
    # copied (into the peak) otherwise: that depends on where TF's serializer put it, not on
    # IdentityN. So the claim is on the bytes the weights take either way, and on the arena.
    totals = [p["predicted_peak_bytes"] + p["weights_mapped_bytes"] for p in plans]
    assert totals[0] == totals[1], plans
    assert plans[0]["arena_bytes"] == plans[1]["arena_bytes"], plans
    assert plans[0]["weights_bytes"] == plans[1]["weights_bytes"], plans


def test_placeholder_with_default_uses_default():
    tf = tfcheck._tf()
    default = _f32((2, 3), seed=3)
    check_against_tf(
        lambda x: x + tf.compat.v1.placeholder_with_default(tf.constant(default), [None, 3], name="pwd"),
        {"x": _f32((2, 3))}, stem="pwd_default")


def test_placeholder_with_default_fed():
    import pbmem
    tf = tfcheck._tf()
    default = _f32((2, 3), seed=3)
    path, names = _graph_only(
        lambda x: x * tf.compat.v1.placeholder_with_default(tf.constant(default), [None, 3], name="pwd"),
        {"x": (np.float32, (None, 3))}, "pwd_fed")
    model = pbmem.load(path)
    x, fed = _f32((4, 3)), _f32((4, 3), seed=9)
    got = model.run({"x": x, "pwd": fed}, outputs=names)[names[0]]
    np.testing.assert_allclose(got, x * fed, rtol=1e-6)
    got = model.run({"x": x[:2]}, outputs=names)[names[0]]
    np.testing.assert_allclose(got, x[:2] * default, rtol=1e-6)


def test_large_and_typed_constants():
    tf = tfcheck._tf()
    big = _f32((200, 100), seed=4)  # 80 KB: only declared at load time, published at prepare
    check_against_tf(lambda x: (x + tf.constant(big),
                                tf.constant([True, False]),
                                tf.constant(np.arange(6, dtype=np.int64).reshape(2, 3)),
                                tf.constant(7, dtype=tf.uint8)),
                     {"x": _f32((200, 100))}, stem="consts")


# ---- shape ops ----------------------------------------------------------------------------------

@pytest.mark.parametrize("in_shape,new_shape", [
    ((2, 3, 4), (6, 4)), ((2, 3, 4), (-1,)), ((2, 3, 4), (4, -1, 2)), ((1,), ()),
    ((0, 3), (3, 0)), ((2, 6), (2, 3, 2, 1)),
])
def test_reshape(in_shape, new_shape):
    tf = tfcheck._tf()
    check_against_tf(lambda x: tf.reshape(x, new_shape), {"x": _f32(in_shape)}, stem="reshape")


def test_reshape_keras_dynamic_batch():
    tf = tfcheck._tf()
    check_against_tf(lambda x: tf.reshape(x, tf.stack([tf.shape(x)[0], -1])),
                     {"x": _f32((3, 4, 5, 2))}, dynamic_batch=True, stem="reshape_keras")
    check_against_tf(lambda x: tf.reshape(x, [-1, 10]) * 2.0, {"x": _f32((3, 5, 2))},
                     dynamic_batch=True, stem="reshape_dyn")


def test_reshape_size_mismatch_is_an_error():
    tf = tfcheck._tf()
    _run_expect_error(lambda x: tf.reshape(x, [5, -1]), {"x": (np.float32, (None, 4))},
                      {"x": _f32((3, 4))}, "reshape_bad", "Reshape", "12", "multiple of 5")


@pytest.mark.parametrize("in_shape,axis", [
    ((1, 3, 1, 2), None), ((1, 3, 1, 2), [0]), ((1, 3, 1, 2), [-2]), ((1, 3, 1, 2), [0, 2]),
    ((1, 1), None),
])
def test_squeeze(in_shape, axis):
    tf = tfcheck._tf()
    check_against_tf(lambda x: tf.squeeze(x, axis), {"x": _f32(in_shape)}, stem="squeeze")


def test_squeeze_dynamic_batch():
    tf = tfcheck._tf()
    check_against_tf(lambda x: tf.squeeze(x, [1, 3]), {"x": _f32((2, 1, 4, 1))},
                     dynamic_batch=True, stem="squeeze_dyn")


def test_squeeze_non_unit_dim_is_an_error():
    tf = tfcheck._tf()
    _run_expect_error(lambda x: tf.squeeze(x, [0]), {"x": (np.float32, (None, 3))},
                      {"x": _f32((2, 3))}, "squeeze_bad", "Squeeze", "not 1")


@pytest.mark.parametrize("in_shape,axis", [((2, 3), 0), ((2, 3), 1), ((2, 3), 2), ((2, 3), -1),
                                           ((2, 3), -3), ((), 0)])
def test_expand_dims(in_shape, axis):
    tf = tfcheck._tf()
    check_against_tf(lambda x: tf.expand_dims(x, axis), {"x": _f32(in_shape)}, stem="expand_dims")


def test_expand_dims_dynamic_batch():
    tf = tfcheck._tf()
    check_against_tf(lambda x: tf.expand_dims(x, -1) + 1.0, {"x": _f32((3, 4))},
                     dynamic_batch=True, stem="expand_dims_dyn")


@pytest.mark.parametrize("in_shape,perm", [
    ((5, 7), (1, 0)), ((2, 4, 5, 3), (0, 3, 1, 2)), ((2, 3, 4, 5), (0, 2, 3, 1)),
    ((3, 4, 5), (2, 0, 1)), ((3, 4, 5), (1, 0, 2)), ((2, 3, 1, 4, 2), (4, 2, 0, 3, 1)),
    ((40, 70), (1, 0)), ((2, 33, 65), (0, 2, 1)), ((4,), (0,)), ((), ()),
    ((300, 500), (1, 0)), ((2, 64, 48, 40), (0, 3, 1, 2)), ((2, 40, 64, 48), (0, 2, 3, 1)),  # parallel
])
def test_transpose(in_shape, perm):
    tf = tfcheck._tf()
    check_against_tf(lambda x: tf.transpose(x, perm), {"x": _f32(in_shape)}, stem="transpose")


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.int64, np.bool_, np.float16, np.int16])
def test_transpose_dtypes(dtype):
    tf = tfcheck._tf()
    x = _ints((3, 4, 5), dtype=np.int64, low=0, high=100).astype(dtype)
    check_against_tf(lambda x: tf.transpose(x, (2, 0, 1)), {"x": x}, stem="transpose_dt")


def test_transpose_dynamic_batch():
    tf = tfcheck._tf()
    check_against_tf(lambda x: tf.transpose(x, (0, 3, 1, 2)), {"x": _f32((3, 4, 5, 6))},
                     dynamic_batch=True, stem="transpose_dyn")


# ---- concat / pack / split / tile ---------------------------------------------------------------

@pytest.mark.parametrize("shapes,axis", [
    ([(2, 3), (2, 5)], 1), ([(2, 3), (4, 3), (1, 3)], 0), ([(2, 3, 4), (2, 3, 1)], -1),
    ([(2, 3, 4), (2, 2, 4), (2, 0, 4)], 1), ([(3,), (4,)], 0), ([(2, 2)], 0),
])
def test_concat(shapes, axis):
    tf = tfcheck._tf()
    inputs = {f"x{i}": _f32(s, seed=i) for i, s in enumerate(shapes)}
    check_against_tf(lambda **xs: tf.concat([xs[f"x{i}"] for i in range(len(shapes))], axis),
                     inputs, stem="concat")


def test_concat_int_and_dynamic_batch():
    tf = tfcheck._tf()
    check_against_tf(lambda a, b: tf.concat([a, b, a], -1), {"a": _ints((3, 2)), "b": _ints((3, 4))},
                     dynamic_batch=True, stem="concat_dyn")


def test_concat_v1():
    tf = tfcheck._tf()
    check_against_tf(lambda a, b: tf.raw_ops.Concat(concat_dim=tf.constant(1), values=[a, b]),
                     {"a": _f32((2, 3)), "b": _f32((2, 2))}, stem="concat_v1")


@pytest.mark.parametrize("shape,axis,n", [((2, 3), 0, 3), ((2, 3), 1, 2), ((2, 3), 2, 2),
                                          ((2, 3), -1, 3), ((), 0, 4)])
def test_pack(shape, axis, n):
    tf = tfcheck._tf()
    inputs = {f"x{i}": _f32(shape, seed=i) for i in range(n)}
    check_against_tf(lambda **xs: tf.stack([xs[f"x{i}"] for i in range(n)], axis), inputs, stem="pack")


@pytest.mark.parametrize("shape,axis", [((3, 4), 0), ((3, 4), 1), ((2, 3, 4), -1), ((2, 3, 4), 1)])
def test_unpack(shape, axis):
    tf = tfcheck._tf()
    check_against_tf(lambda x: tf.unstack(x, axis=axis), {"x": _f32(shape)}, stem="unpack")


@pytest.mark.parametrize("shape,num,axis", [((6, 4), 3, 0), ((2, 6), 2, 1), ((2, 3, 8), 4, -1),
                                            ((4, 3), 1, 0)])
def test_split(shape, num, axis):
    tf = tfcheck._tf()
    check_against_tf(lambda x: tf.split(x, num, axis), {"x": _f32(shape)}, stem="split")


@pytest.mark.parametrize("shape,sizes,axis", [((7, 3), [1, 4, 2], 0), ((2, 9), [2, -1, 3], 1),
                                              ((2, 3, 5), [5], -1), ((6, 2), [0, -1], 0)])
def test_split_v(shape, sizes, axis):
    tf = tfcheck._tf()
    check_against_tf(lambda x: tf.split(x, sizes, axis), {"x": _f32(shape)}, stem="split_v")


def test_split_dynamic_batch():
    tf = tfcheck._tf()
    check_against_tf(lambda x: tf.split(x, [1, 3], axis=1), {"x": _f32((3, 4))},
                     dynamic_batch=True, stem="split_dyn")


@pytest.mark.parametrize("shape,multiples", [((2, 3), (1, 1)), ((2, 3), (2, 3)), ((1, 4, 1), (3, 1, 5)),
                                             ((3,), (4,)), ((2, 2), (0, 2)), ((), ())])
def test_tile(shape, multiples):
    tf = tfcheck._tf()
    check_against_tf(lambda x: tf.tile(x, multiples), {"x": _f32(shape)}, stem="tile")


def test_tile_dynamic_batch_and_ints():
    tf = tfcheck._tf()
    check_against_tf(lambda x: tf.tile(x, [1, 2, 3]), {"x": _ints((2, 3, 2), dtype=np.int64)},
                     dynamic_batch=True, stem="tile_dyn")


# ---- gather -------------------------------------------------------------------------------------

@pytest.mark.parametrize("params_shape,indices,axis", [
    ((5, 3), [4, 0, 2, 2], 0), ((5, 3), [[1, 0], [2, 1]], 1), ((2, 3, 4), [3, 0], -1),
    ((6,), 3, 0), ((4, 5), [], 0), ((3, 4, 2), [[2], [0]], 1),
])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_gather_v2(params_shape, indices, axis, index_dtype):
    tf = tfcheck._tf()
    idx = np.array(indices, dtype=index_dtype)
    check_against_tf(lambda p: tf.gather(p, tf.constant(idx), axis=axis), {"p": _f32(params_shape)},
                     stem="gather")


def test_gather_fed_indices_and_old_op():
    tf = tfcheck._tf()
    check_against_tf(lambda p, i: (tf.gather(p, i, axis=1), tf.raw_ops.Gather(params=p, indices=i)),
                     {"p": _ints((4, 5)), "i": np.array([[3, 0], [1, 1]], np.int32)}, stem="gather_fed")


def test_gather_out_of_range_is_an_error():
    tf = tfcheck._tf()
    _run_expect_error(lambda p, i: tf.gather(p, i), {"p": (np.float32, (3, 2)), "i": (np.int32, (None,))},
                      {"p": _f32((3, 2)), "i": np.array([0, 7], np.int32)}, "gather_bad",
                      "indices[1] = 7 is not in [0, 3)")


def test_gather_batch_dims_is_unsupported():
    tf = tfcheck._tf()
    _run_expect_error(lambda p, i: tf.gather(p, i, axis=1, batch_dims=1),
                      {"p": (np.float32, (2, 3)), "i": (np.int32, (2, 1))},
                      {"p": _f32((2, 3)), "i": np.zeros((2, 1), np.int32)}, "gather_bd", "batch_dims")


# ---- cast ---------------------------------------------------------------------------------------

CAST_CASES = [
    (np.float32, np.int32), (np.float32, np.int64), (np.float32, np.uint8), (np.float32, np.int8),
    (np.float32, np.int16), (np.float32, np.uint16), (np.float32, np.bool_), (np.float32, np.float16),
    (np.float32, np.float64), (np.float64, np.float32), (np.float64, np.int32), (np.int32, np.float32),
    (np.int32, np.int64), (np.int32, np.bool_), (np.int32, np.uint8), (np.int32, np.float16),
    (np.int64, np.int32), (np.int64, np.float32), (np.bool_, np.float32), (np.bool_, np.int32),
    (np.float16, np.float32), (np.float16, np.int32), (np.uint8, np.float32), (np.uint8, np.int32),
    (np.int8, np.float32), (np.uint16, np.int64), (np.int16, np.float16),
]


def _cast_input(dtype):
    if dtype == np.bool_:
        return np.array([[True, False, True], [False, False, True]])
    if np.issubdtype(dtype, np.floating):
        # In-range values only: out-of-range float->int results are platform-specific in TF.
        return np.array([[-2.7, -0.5, 0.0], [0.49, 1.5, 100.9]], dtype=dtype)
    info = np.iinfo(dtype)
    return np.array([[info.min, -1 if info.min < 0 else 3, 0], [1, 77, info.max]], dtype=dtype)


@pytest.mark.parametrize("src,dst", CAST_CASES)
def test_cast(src, dst):
    tf = tfcheck._tf()
    x = _cast_input(src)
    if np.issubdtype(src, np.floating) and dst in (np.uint8, np.uint16):
        x = np.abs(x)  # negative floats to unsigned wrap differently on other CPUs
    check_against_tf(lambda x: tf.cast(x, tf.as_dtype(dst)), {"x": x}, stem="cast")


def test_cast_half_rounding():
    tf = tfcheck._tf()
    x = np.array([65519.0, 65520.0, 1e-8, 3e-5, 6.1e-5, -2049.0, 2049.0, 0.1, np.inf, -np.inf],
                 dtype=np.float32)
    check_against_tf(lambda x: tf.cast(x, tf.float16), {"x": x}, stem="cast_half")


# ---- shape queries and generators ---------------------------------------------------------------

@pytest.mark.parametrize("out_type", ["int32", "int64"])
def test_shape_size_rank(out_type):
    tf = tfcheck._tf()
    dt = tf.as_dtype(out_type)
    check_against_tf(lambda x, y: (tf.shape(x, out_type=dt), tf.size(x, out_type=dt), tf.rank(x),
                                   *tf.shape_n([x, y], out_type=dt)),
                     {"x": _f32((3, 4, 2)), "y": _f32((5,))}, stem="shape")
    check_against_tf(lambda x: (tf.shape(x, out_type=dt), tf.size(x, out_type=dt), tf.rank(x)),
                     {"x": _f32((3, 4, 2))}, dynamic_batch=True, stem="shape_dyn")


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.bool_, np.float16, np.int64])
def test_zeros_ones_like(dtype):
    tf = tfcheck._tf()
    x = np.ones((2, 3), dtype=dtype)
    check_against_tf(lambda x: (tf.zeros_like(x), tf.ones_like(x)), {"x": x}, stem="zeros_ones")


def test_fill():
    tf = tfcheck._tf()
    check_against_tf(lambda v: (tf.fill([2, 3], v), tf.fill([0, 2], v)), {"v": np.float32(2.5)}, stem="fill")
    check_against_tf(lambda x: tf.fill(tf.shape(x), 3) + tf.cast(x, tf.int32), {"x": _f32((3, 2))},
                     dynamic_batch=True, stem="fill_dyn")


@pytest.mark.parametrize("start,limit,delta,dtype", [
    (0, 10, 1, np.int32), (3, 18, 4, np.int32), (10, -3, -3, np.int64), (5, 5, 1, np.int32),
    (0.3, 10.0, 0.1, np.float32), (1.0, -2.0, -0.25, np.float32), (0.0, 1.0, 0.3, np.float64),
])
def test_range(start, limit, delta, dtype):
    tf = tfcheck._tf()
    def build(x):
        s, l, d = (tf.constant(v, dtype=tf.as_dtype(dtype)) for v in (start, limit, delta))
        return tf.range(s, l, d), x
    check_against_tf(build, {"x": _f32((1,))}, stem="range")


def test_range_from_shape():
    tf = tfcheck._tf()
    check_against_tf(lambda x: tf.cast(tf.range(tf.shape(x)[0]), tf.float32) + x[:, 0],
                     {"x": _f32((4, 3))}, dynamic_batch=True, stem="range_dyn")


def test_cast_half_and_bfloat16_exhaustive():
    """Every half value to float, and a spread of float bit patterns to half and bfloat16."""
    tf = tfcheck._tf()
    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    bits = rng(11).integers(0, 1 << 32, size=50000, dtype=np.uint64).astype(np.uint32)
    floats = bits.view(np.float32)
    floats = floats[np.isfinite(floats)]
    with np.errstate(over="ignore"):
        floats = np.concatenate([floats, floats * np.float32(2.0 ** -100), floats * np.float32(2.0 ** 100)])
    floats = floats[np.isfinite(floats)].astype(np.float32)
    check_against_tf(lambda h, f: (tf.cast(h, tf.float32), tf.cast(f, tf.float16),
                                   tf.cast(tf.cast(f, tf.bfloat16), tf.float32),
                                   tf.cast(tf.cast(h, tf.bfloat16), tf.float16)),
                     {"h": halves, "f": floats}, tol=0.0, stem="cast_exhaustive")


# ---- malformed graphs: clear errors, never a crash ---------------------------------------------

def _load_mutated(build_fn, specs, mutate, feeds, stem):
    """Builds a graph, lets `mutate(graph_def)` corrupt it, then loads and runs it in pbmem.
    Returns the pbmem.Error message (the test fails if pbmem accepts the graph)."""
    import pbmem
    tf = tfcheck._tf()
    graph = tf.Graph()
    with graph.as_default():
        phs = {n: tf.compat.v1.placeholder(tf.as_dtype(d), shape=s, name=n) for n, (d, s) in specs.items()}
        tf.identity(build_fn(**phs), name="out0")
    graph_def = graph.as_graph_def()
    mutate(graph_def, tf)
    path = tfcheck.save_graph_bytes(graph_def.SerializeToString(), stem)
    with pytest.raises(pbmem.Error) as err:
        pbmem.load(path).run(feeds, outputs=["out0"])
    return str(err.value)


def _node(graph_def, op):
    return next(n for n in graph_def.node if n.op == op)


def _set_const(graph_def, tf, name_part, value):
    node = next(n for n in graph_def.node if n.op == "Const" and name_part in n.name)
    node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
    node.attr["dtype"].type = node.attr["value"].tensor.dtype


BAD_GRAPHS = {
    "reshape_two_inferred": (lambda tf: (lambda x: tf.reshape(x, [3, 4])),
                             lambda g, tf: _set_const(g, tf, "shape", np.array([-1, -1], np.int32)),
                             "only once"),
    "reshape_negative": (lambda tf: (lambda x: tf.reshape(x, [3, 4])),
                         lambda g, tf: _set_const(g, tf, "shape", np.array([-3, -4], np.int32)),
                         "non-negative"),
    "transpose_not_a_permutation": (lambda tf: (lambda x: tf.transpose(x, [1, 0])),
                                    lambda g, tf: _set_const(g, tf, "perm", np.array([1, 1], np.int32)),
                                    "permutation"),
    "tile_negative": (lambda tf: (lambda x: tf.tile(x, [2, 2])),
                      lambda g, tf: _set_const(g, tf, "multiples", np.array([2, -2], np.int32)),
                      "non-negative"),
    "tile_overflow": (lambda tf: (lambda x: tf.tile(x, [2, 2])),
                      lambda g, tf: _set_const(g, tf, "multiples", np.array([2 ** 62, 2 ** 62], np.int64)),
                      "overflow"),
    "mirror_pad_mode": (lambda tf: (lambda x: tf.pad(x, [[1, 1], [1, 1]], mode="REFLECT")),
                        lambda g, tf: _node(g, "MirrorPad").attr["mode"].__setattr__("s", b"WRAP"),
                        "REFLECT or SYMMETRIC"),
    "pad_negative": (lambda tf: (lambda x: tf.pad(x, [[1, 1], [1, 1]])),
                     lambda g, tf: _set_const(g, tf, "Pad", np.array([[1, -1], [0, 0]], np.int32)),
                     "non-negative"),
    "split_zero_ways": (lambda tf: (lambda x: tf.split(x, 2, axis=1)[0]),
                        lambda g, tf: _node(g, "Split").attr["num_split"].__setattr__("i", 0),
                        "num_split"),
    "unpack_huge": (lambda tf: (lambda x: tf.unstack(x, axis=0)[0]),
                    lambda g, tf: _node(g, "Unpack").attr["num"].__setattr__("i", 1 << 40),
                    "num"),
    "strided_slice_mask": (lambda tf: (lambda x: x[1:, 0]),
                           lambda g, tf: _node(g, "StridedSlice").attr["ellipsis_mask"].__setattr__("i", 3),
                           "ellipsis"),
    "strided_slice_huge_mask": (lambda tf: (lambda x: x[1:, 0]),
                                lambda g, tf: _node(g, "StridedSlice").attr["begin_mask"].__setattr__("i", 1 << 62),
                                "mask"),
    "concat_axis": (lambda tf: (lambda x: tf.concat([x, x], 1)),
                    lambda g, tf: _set_const(g, tf, "axis", np.int32(5)), "out of range"),
    "gather_axis": (lambda tf: (lambda x: tf.gather(x, [0], axis=1)),
                    lambda g, tf: _set_const(g, tf, "axis", np.int32(-3)), "out of range"),
    "range_zero_delta": (lambda tf: (lambda x: x[0] + tf.cast(tf.range(0, 4, 1), tf.float32)),
                         lambda g, tf: _set_const(g, tf, "delta", np.int32(0)), "delta"),
    "fill_negative": (lambda tf: (lambda x: x + tf.fill([3, 4], 1.0)),
                      lambda g, tf: _set_const(g, tf, "dims", np.array([3, -4], np.int32)), "non-negative"),
    "cast_string": (lambda tf: (lambda x: tf.cast(x, tf.int32)),
                    lambda g, tf: _node(g, "Cast").attr["DstT"].__setattr__("type", 7), "string"),
}


@pytest.mark.parametrize("name", sorted(BAD_GRAPHS))
def test_malformed_attributes_are_clear_errors(name):
    tf = tfcheck._tf()
    make_build, mutate, fragment = BAD_GRAPHS[name]
    message = _load_mutated(make_build(tf), {"x": (np.float32, (3, 4))}, mutate, {"x": _f32((3, 4))},
                            f"bad_{name}")
    assert fragment in message, message
    assert "node '" in message, message
