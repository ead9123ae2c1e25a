"""Function calls in frozen graphs: GraphDef.library is read and every PartitionedCall /
StatefulPartitionedCall is inlined at load (src/graph/inline.h).

Models are TF 2 tf.functions frozen with convert_variables_to_constants_v2(lower_control_flow=
False). That pass runs Grappler's function inlining, so the functions meant to stay calls carry
the `_noinline` attribute (as XLA-compiled Keras 3 functions do); each test checks that the frozen
graph really holds calls and a library before comparing pbmem's outputs with TF's.
Malformed libraries are made by editing those GraphDefs with TF's protobuf classes.
"""
import numpy as np
import pytest

import tfcheck
from cli import assert_api_error, assert_cli_error, assert_no_crash, assert_ok, import_pbmem, run_cli

CALL_OPS = ("PartitionedCall", "StatefulPartitionedCall")
NOINLINE = {"_noinline": True}
IMAGE_SHAPE = (1, 8, 8, 3)
CHANNELS = 8
UNSUPPORTED_OP = "MatrixDeterminant"
FUZZ_SEEDS = range(40)


def _convert_to_constants():
    tfcheck._tf()
    from tensorflow.python.framework.convert_to_constants import \
        convert_variables_to_constants_v2
    return convert_variables_to_constants_v2


def _freeze(fn):
    """Freezes a tf.function with an input_signature; returns (concrete frozen fn, GraphDef)."""
    frozen = _convert_to_constants()(fn.get_concrete_function(), lower_control_flow=False)
    return frozen, frozen.graph.as_graph_def()


def _call_ops(graph_def):
    ops = [n.op for n in graph_def.node if n.op in CALL_OPS]
    for function in graph_def.library.function:
        ops += [n.op for n in function.node_def if n.op in CALL_OPS]
    return ops


def _compare(frozen, graph_def, inputs, stem):
    """Runs the frozen function in TF and the saved GraphDef in pbmem on `inputs` (arrays in
    argument order); compares every output."""
    tf = tfcheck._tf()
    path = tfcheck.save_graph_bytes(graph_def.SerializeToString(), stem)
    want = frozen(*[tf.constant(v) for v in inputs])
    want = want if isinstance(want, (list, tuple)) else [want]
    feeds = {t.name.split(":")[0]: v for t, v in zip(frozen.inputs, inputs)}
    names = [t.name.split(":")[0] for t in frozen.outputs]
    got = import_pbmem().load(path).run(feeds, outputs=names)
    assert len(want) == len(names) > 0
    for name, w in zip(names, want):
        tfcheck.assert_matches(got[name], w.numpy(), name=name)
    return path


# ---------------------------------------------------------------------------------------------
# A tf.function model with nested calls.

def _nested_model():
    """conv -> bn (a function: FusedBatchNormV3, reads its batch_mean output) -> split/relu (a
    stateless function, called from two places) inside a `block` function called by the model."""
    tf = tfcheck._tf()
    gen = tfcheck.rng(7)
    weights = tf.Variable(gen.standard_normal((3, 3, 3, CHANNELS)).astype(np.float32))
    scale, offset, mean = (tf.Variable(gen.standard_normal(CHANNELS).astype(np.float32))
                           for _ in range(3))
    variance = tf.Variable(gen.uniform(0.5, 2.0, CHANNELS).astype(np.float32))

    @tf.function(experimental_attributes=NOINLINE)
    def batch_norm(y):
        out, batch_mean, _ = tf.compat.v1.nn.fused_batch_norm(
            y, scale, offset, mean=mean, variance=variance, is_training=False)
        return out, batch_mean

    @tf.function(experimental_attributes=NOINLINE)
    def gate(a, b):  # no variables: a PartitionedCall
        p, q = tf.split(a, 2, axis=3)
        return tf.nn.relu(p) * q + b

    @tf.function(experimental_attributes=NOINLINE)
    def block(x):
        y, batch_mean = batch_norm(tf.nn.conv2d(x, weights, 1, "SAME"))
        return gate(y, batch_mean[: CHANNELS // 2]), batch_mean

    @tf.function(input_signature=[tf.TensorSpec(IMAGE_SHAPE, tf.float32)])
    def model(x):
        y, batch_mean = block(x)
        return gate(tf.concat([y, y], axis=3), y[..., :1]) + 1.0, tf.reduce_sum(batch_mean)

    return _freeze(model)


@pytest.fixture(scope="module")
def nested():
    return _nested_model()


def test_nested_calls_match_tf(nested):
    frozen, graph_def = nested
    assert {"PartitionedCall", "StatefulPartitionedCall"} <= set(_call_ops(graph_def))
    assert len(graph_def.library.function) >= 4
    x = tfcheck.rng(1).standard_normal(IMAGE_SHAPE).astype(np.float32)
    path = _compare(frozen, graph_def, [x], "func-nested")
    # The calls are gone: their bodies run as ordinary nodes, named under the call.
    result = run_cli(["inspect", path, "--json"])
    assert_ok(result)
    assert "PartitionedCall" not in result.stdout
    assert "FusedBatchNormV3" in result.stdout and "Conv2D" in result.stdout


def test_call_outputs_keep_their_names(nested):
    _, graph_def = nested
    path = tfcheck.save_graph_bytes(graph_def.SerializeToString(), "func-nested")
    call = next(n.name for n in graph_def.node if n.op in CALL_OPS)
    pbmem = import_pbmem()
    model = pbmem.load(path)
    x = np.zeros(IMAGE_SHAPE, np.float32)
    got = model.run({model.inputs[0].name: x}, outputs=[f"{call}:0", f"{call}:1"])
    assert set(got) == {f"{call}:0", f"{call}:1"}


# ---------------------------------------------------------------------------------------------
# Keras 3: layers compiled into StatefulPartitionedCall.

def _keras_grouped_block():
    """A ConvNeXt-shaped block: grouped 7x7 conv (groups=channels, which Keras 3 runs as an
    XLA-compiled function), LayerNormalization, pointwise Dense + GELU, a residual Add, then a
    grouped conv with groups=2."""
    tf = tfcheck._tf()
    import keras
    keras.utils.set_random_seed(3)
    channels = 8
    inputs = keras.Input((16, 16, channels), batch_size=1)
    x = keras.layers.Conv2D(channels, 7, padding="same", groups=channels)(inputs)
    x = keras.layers.LayerNormalization(epsilon=1e-6)(x)
    x = keras.layers.Dense(4 * channels, activation="gelu")(x)
    x = keras.layers.Dense(channels)(x)
    x = keras.layers.Add()([inputs, x])
    x = keras.layers.Conv2D(6, 3, padding="same", groups=2)(x)
    model = keras.Model(inputs, x)
    fn = tf.function(lambda t: model(t, training=False),
                     input_signature=[tf.TensorSpec((1, 16, 16, channels), tf.float32)])
    return _freeze(fn)


def test_keras_grouped_conv_matches_tf():
    frozen, graph_def = _keras_grouped_block()
    assert "StatefulPartitionedCall" in _call_ops(graph_def)
    x = tfcheck.rng(2).standard_normal((1, 16, 16, 8)).astype(np.float32)
    _compare(frozen, graph_def, [x], "func-keras-grouped")


def test_keras_convnext_tiny_matches_tf():
    """keras.applications.ConvNeXtTiny (random weights, logits) at batch 1: its depthwise 7x7
    convs are grouped Conv2Ds that stay StatefulPartitionedCalls when frozen."""
    tf = tfcheck._tf()
    import keras
    keras.utils.set_random_seed(5)
    model = keras.applications.ConvNeXtTiny(weights=None, classifier_activation=None)
    fn = tf.function(lambda images: model(images, training=False),
                     input_signature=[tf.TensorSpec((1, 224, 224, 3), tf.float32)])
    frozen, graph_def = _freeze(fn)
    assert _call_ops(graph_def).count("StatefulPartitionedCall") >= 18  # one per ConvNeXt block
    images = tfcheck.rng(4).uniform(0, 255, (1, 224, 224, 3)).astype(np.float32)
    _compare(frozen, graph_def, [images], "func-convnext-tiny")


# ---------------------------------------------------------------------------------------------
# Hand-edited libraries: placeholders, errors.

def _graph_with_call(function_name, body_nodes, ret="out:output:0", func_attrs=None,
                     signature_attrs=None):
    """x (Placeholder) -> PartitionedCall(function_name) -> y (Identity); the library holds one
    function `function_name`(a) -> (o) with `body_nodes` (NodeDef protos) and ret o=`ret`."""
    tf = tfcheck._tf()
    graph_def = tf.compat.v1.GraphDef()
    x = graph_def.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = tf.float32.as_datatype_enum
    call = graph_def.node.add(name="call", op="PartitionedCall", input=["x"])
    call.attr["f"].func.name = function_name
    for key, value in (func_attrs or {}).items():
        call.attr["f"].func.attr[key].CopyFrom(value)
    call.attr["Tin"].list.type.append(tf.float32.as_datatype_enum)
    call.attr["Tout"].list.type.append(tf.float32.as_datatype_enum)
    graph_def.node.add(name="y", op="Identity", input=["call"]).attr["T"].type = \
        tf.float32.as_datatype_enum
    function = graph_def.library.function.add()
    function.signature.name = function_name
    function.signature.input_arg.add(name="a", type=tf.float32.as_datatype_enum)
    function.signature.output_arg.add(name="o", type=tf.float32.as_datatype_enum)
    function.node_def.extend(body_nodes)
    function.ret["o"] = ret
    return graph_def


def _node(name, op, inputs, **type_attrs):
    tf = tfcheck._tf()
    node = tf.compat.v1.NodeDef(name=name, op=op, input=inputs)
    for key, value in type_attrs.items():
        if isinstance(value, str):
            node.attr[key].placeholder = value
        else:
            node.attr[key].type = value.as_datatype_enum
    return node


def _write(tmp_path, name, graph_def):
    path = tmp_path / name
    path.write_bytes(graph_def.SerializeToString())
    return str(path)


def test_placeholder_attrs_are_bound_from_the_call(tmp_path):
    tf = tfcheck._tf()
    bound = tf.compat.v1.AttrValue(type=tf.float32.as_datatype_enum)
    graph_def = _graph_with_call("f", [_node("out", "Relu", ["a"], T="T")], func_attrs={"T": bound})
    pbmem = import_pbmem()
    model = pbmem.load(_write(tmp_path, "placeholder.pb", graph_def))
    x = np.array([[-1.0, 2.0]], np.float32)
    np.testing.assert_array_equal(model.run({"x": x}, outputs=["y"])["y"], np.maximum(x, 0))
    # Unbound: the error names the call, the function, the attribute and the placeholder.
    graph_def = _graph_with_call("f", [_node("out", "Relu", ["a"], T="T")])
    path = _write(tmp_path, "unbound.pb", graph_def)
    assert_cli_error(run_cli(["inspect", path]), "'call'", "'f'", "'T'", "placeholder")


def test_recursive_function_is_an_error(tmp_path):
    tf = tfcheck._tf()
    inner = _node("out", "PartitionedCall", ["a"])
    inner.attr["f"].func.name = "f"
    inner.attr["Tout"].list.type.append(tf.float32.as_datatype_enum)
    path = _write(tmp_path, "recursive.pb", _graph_with_call("f", [inner]))
    assert_cli_error(run_cli(["inspect", path]), "'f' -> 'f'", "recursive")


@pytest.mark.parametrize("edit,must_mention", [
    ("missing_function", ("'call'", "'g'", "not in the graph's function library")),
    ("bad_ret", ("'out:nope'", "node:output_arg:index")),
    ("unknown_arg", ("'b'", "names no arg")),
    ("bad_bn_output", ("'bn:scale:0'", "batch_mean")),
])
def test_bad_library_references_are_errors(tmp_path, edit, must_mention):
    tf = tfcheck._tf()
    relu = _node("out", "Relu", ["a"], T=tf.float32)
    if edit == "missing_function":
        graph_def = _graph_with_call("f", [relu])
        graph_def.node[1].attr["f"].func.name = "g"
    elif edit == "bad_ret":
        graph_def = _graph_with_call("f", [relu], ret="out:nope")
    elif edit == "unknown_arg":
        graph_def = _graph_with_call("f", [_node("out", "Relu", ["b"], T=tf.float32)])
    else:
        bn = _node("bn", "FusedBatchNormV3", ["a", "a", "a", "a", "a"], T=tf.float32)
        graph_def = _graph_with_call("f", [bn], ret="bn:scale:0")
    path = _write(tmp_path, f"{edit}.pb", graph_def)
    assert_cli_error(run_cli(["inspect", path]), *must_mention)
    pbmem = import_pbmem()
    with pytest.raises(pbmem.Error) as excinfo:
        pbmem.load(path)
    assert_api_error(excinfo, *must_mention)


def test_unsupported_ops_inside_functions_are_listed(tmp_path):
    """Ops of inlined bodies are checked like the graph's; so are those of functions that an
    unsupported node (a While here) names but that are never inlined."""
    tf = tfcheck._tf()
    graph_def = _graph_with_call("f", [_node("out", UNSUPPORTED_OP, ["a"], T=tf.float32)])
    loop = graph_def.node.add(name="loop", op="While", input=["y"])
    loop.attr["body"].func.name = "loop_body"
    body = graph_def.library.function.add()
    body.signature.name = "loop_body"
    body.node_def.extend([_node("svd", "Svd", [])])
    path = _write(tmp_path, "unsupported.pb", graph_def)
    must_mention = (UNSUPPORTED_OP, "'call/out'", "While", "'loop'", "Svd",
                    "in function 'loop_body'")
    result = run_cli(["inspect", path])
    assert_ok(result)
    for text in must_mention:
        assert text in result.stdout, f"inspect does not list {text!r}:\n{result.stdout}"
    assert_cli_error(run_cli(["run", path, "--input-shape", "x=1,2"]), *must_mention)


def test_unsupported_ops_in_tf_control_flow_bodies_are_listed(tmp_path):
    """A TF-built While and If (not lowered): their cond/body/branch functions are not inlined,
    but their unsupported ops are listed with the graph's, all in one error."""
    tf = tfcheck._tf()

    def body(i, a):
        return i + 1, tf.linalg.det(a) * a

    @tf.function(input_signature=[tf.TensorSpec((2, 2), tf.float32)])
    def model(x):
        y = tf.while_loop(lambda i, a: i < 3, body, (0, x))[1]
        return tf.cond(tf.reduce_sum(y) > 0, lambda: y * 2.0, lambda: tf.linalg.inv(y))

    _, graph_def = _freeze(model)
    loops = {n.op for n in graph_def.node} & {"While", "StatelessWhile", "If", "StatelessIf"}
    assert len(loops) == 2, sorted({n.op for n in graph_def.node})
    path = _write(tmp_path, "control_flow.pb", graph_def)
    must_mention = (*sorted(loops), "MatrixDeterminant", "MatrixInverse", "in function '")
    result = run_cli(["inspect", path])
    assert_ok(result)
    for text in must_mention:
        assert text in result.stdout, f"inspect does not list {text!r}:\n{result.stdout}"
    assert_cli_error(run_cli(["run", path, "--input-shape", "x=2,2"]), *must_mention)


# ---------------------------------------------------------------------------------------------
# Truncated and fuzzed library bytes.

def _library_span(data, graph_def):
    """Byte range of the serialized library inside `data` (fields are written in number order:
    nodes, then the library)."""
    library = graph_def.library.SerializeToString()
    start = data.find(library)
    assert start > 0
    return start, start + len(library)


def test_truncated_library_is_a_clean_error(tmp_path, nested):
    _, graph_def = nested
    data = graph_def.SerializeToString()
    start, end = _library_span(data, graph_def)
    for cut in np.linspace(start + 1, end - 1, 12).astype(int):
        path = tmp_path / f"cut{cut}.pb"
        path.write_bytes(data[:cut])
        assert_cli_error(run_cli(["inspect", str(path)]), str(path))


def test_fuzzed_library_never_crashes(tmp_path, nested):
    _, graph_def = nested
    data = bytearray(graph_def.SerializeToString())
    start, end = _library_span(bytes(data), graph_def)
    for seed in FUZZ_SEEDS:
        gen = np.random.default_rng(seed)
        mutated = bytearray(data)
        for pos in gen.integers(start, end, size=int(gen.integers(1, 8))):
            mutated[pos] = int(gen.integers(0, 256))
        path = tmp_path / f"fuzz{seed}.pb"
        path.write_bytes(bytes(mutated))
        result = run_cli(["inspect", str(path)])
        assert_no_crash(result)
        assert result.returncode in (0, 1), f"seed {seed}: exit code {result.returncode}"
