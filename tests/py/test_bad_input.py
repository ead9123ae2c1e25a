"""Bad input must fail cleanly: exit code 1 and one 'pbmem: error: ...' line naming the file, node,
op or flag at fault (CLI), or pbmem.Error with such a message (Python); never a crash, a signal
or a traceback.

Malformed GraphDefs are made by editing a small TF-built GraphDef (Placeholder -> MatMul -> Add
-> Relu) or from raw protobuf bytes.
"""
import os
import shutil

import numpy as np
import pytest

import tfcheck
from cli import (assert_api_error, assert_cli_error, assert_no_crash, assert_ok, import_pbmem,
                 run_cli)

INPUT = "input_vector"
WEIGHTS = "dense_weights"
OUTPUT = "dense_relu"
IN_FEATURES = 4
OUT_FEATURES = 3
INT64_MAX = 2**63 - 1
UNKNOWN_DTYPE = 77  # not a TensorFlow DataType number
FAKE_OP = "PbmemTestMysteryOp"
REAL_UNSUPPORTED_OP = "MatrixDeterminant"
RANDOM_BYTES_SEEDS = (1, 2, 3)
RANDOM_BYTES_LENGTH = 4096
# Protobuf wire types (the low 3 bits of a field key).
WIRE_VARINT = 0
WIRE_LEN = 2
GRAPHDEF_NODE_FIELD = 1


# ---------------------------------------------------------------------------------------------
# Graph builders.

def _base_graph_def():
    """input_vector [N,4] -> MatMul(dense_weights) -> Add(dense_bias) -> Relu: a GraphDef proto."""
    tf = tfcheck._tf()
    gen = np.random.default_rng(0)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, IN_FEATURES], name=INPUT)
        w = tf.constant(gen.standard_normal((IN_FEATURES, OUT_FEATURES)).astype(np.float32),
                        name=WEIGHTS)
        b = tf.constant(gen.standard_normal(OUT_FEATURES).astype(np.float32), name="dense_bias")
        y = tf.add(tf.matmul(x, w, name="dense_matmul"), b, name="dense_add")
        tf.nn.relu(y, name=OUTPUT)
    return graph.as_graph_def()


def _node(graph_def, name):
    for node in graph_def.node:
        if node.name == name:
            return node
    raise KeyError(name)


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint((field << 3) | wire_type)


def _read_varint(data: bytes, pos: int):
    shift = value = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _top_level_field_ends(data: bytes):
    """Offsets where a top-level field ends: cutting there leaves a valid (shorter) GraphDef."""
    ends, pos = {0}, 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        assert key & 7 == WIRE_LEN, "the base GraphDef only has length-delimited fields"
        length, pos = _read_varint(data, pos)
        pos += length
        ends.add(pos)
    return ends


def _truncation_lengths(data: bytes):
    """Prefix lengths that cut a field in the middle (some in the key, some deep in a node)."""
    ends = _top_level_field_ends(data)
    wanted = [1, 2, 5, len(data) // 3, len(data) // 2, len(data) - 10, len(data) - 1]
    lengths = []
    for n in wanted:
        while n in ends:
            n += 1
        if 0 < n < len(data) and n not in lengths:
            lengths.append(n)
    return lengths


@pytest.fixture(scope="module")
def base():
    return _base_graph_def()


@pytest.fixture(scope="module")
def base_bytes(base):
    return base.SerializeToString()


def _copy(graph_def):
    tf = tfcheck._tf()
    out = tf.compat.v1.GraphDef()
    out.CopyFrom(graph_def)
    return out


def _write(tmp_path, name, data: bytes) -> str:
    path = os.path.join(tmp_path, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _cycle(base):
    """loop_a = AddV2(input_vector, loop_b); loop_b = Relu(loop_a); the output consumes loop_b."""
    g = _copy(base)
    t = _node(g, "dense_add").attr["T"]
    a = g.node.add(name="loop_a", op="AddV2", input=[INPUT, "loop_b"])
    a.attr["T"].CopyFrom(t)
    b = g.node.add(name="loop_b", op="Relu", input=["loop_a"])
    b.attr["T"].CopyFrom(t)
    out = g.node.add(name="loop_out", op="Identity", input=["loop_b"])
    out.attr["T"].CopyFrom(t)
    return g, ("loop_a", "loop_b")


def _missing_input(base):
    g = _copy(base)
    _node(g, OUTPUT).input[0] = "no_such_node"
    return g, (OUTPUT, "no_such_node")


def _unknown_placeholder_dtype(base):
    g = _copy(base)
    _node(g, INPUT).attr["dtype"].type = UNKNOWN_DTYPE
    return g, (INPUT, str(UNKNOWN_DTYPE))


def _unknown_const_dtype(base):
    g = _copy(base)
    _node(g, WEIGHTS).attr["value"].tensor.dtype = UNKNOWN_DTYPE
    return g, (WEIGHTS, str(UNKNOWN_DTYPE))


def _short_tensor_content(base):
    g = _copy(base)
    tensor = _node(g, WEIGHTS).attr["value"].tensor
    assert tensor.tensor_content, "TF stored the weights as typed values, not tensor_content"
    tensor.tensor_content = tensor.tensor_content[:-4]
    return g, (WEIGHTS,)


def _long_tensor_content(base):
    g = _copy(base)
    tensor = _node(g, WEIGHTS).attr["value"].tensor
    tensor.tensor_content = tensor.tensor_content + b"\0" * 8
    return g, (WEIGHTS,)


def _overflowing_dims(base):
    """Each dim fits in int64 but their product does not."""
    g = _copy(base)
    shape = _node(g, WEIGHTS).attr["value"].tensor.tensor_shape
    del shape.dim[:]
    for size in (2**40, 2**40, 2**40):
        shape.dim.add(size=size)
    return g, (WEIGHTS,)


def _overflowing_byte_size(base):
    """The element count fits in int64, the byte count (x4 for float) does not."""
    g = _copy(base)
    shape = _node(g, WEIGHTS).attr["value"].tensor.tensor_shape
    del shape.dim[:]
    shape.dim.add(size=INT64_MAX // 2)
    return g, (WEIGHTS,)


def _negative_dim(base):
    g = _copy(base)
    shape = _node(g, WEIGHTS).attr["value"].tensor.tensor_shape
    shape.dim[0].size = -5
    return g, (WEIGHTS,)


def _unsupported_ops(base):
    """Two unsupported op types over three nodes, hanging off the normal output."""
    g = _copy(base)
    t = _node(g, OUTPUT).attr["T"]
    for name, op, src in (("mystery_1", FAKE_OP, OUTPUT), ("mystery_2", FAKE_OP, "mystery_1"),
                          ("determinant", REAL_UNSUPPORTED_OP, "dense_weights")):
        node = g.node.add(name=name, op=op, input=[src])
        node.attr["T"].CopyFrom(t)
    return g, (FAKE_OP, REAL_UNSUPPORTED_OP, "mystery_1", "mystery_2", "determinant")


MALFORMED_GRAPHS = {
    "cycle": _cycle,
    "missing_input_node": _missing_input,
    "unknown_placeholder_dtype": _unknown_placeholder_dtype,
    "unknown_const_dtype": _unknown_const_dtype,
    "short_tensor_content": _short_tensor_content,
    "long_tensor_content": _long_tensor_content,
    "dims_product_overflows_int64": _overflowing_dims,
    "byte_size_overflows_int64": _overflowing_byte_size,
    "negative_dim": _negative_dim,
    "unsupported_ops": _unsupported_ops,
}


def _not_a_graphdef_payloads():
    """Valid protobuf messages (or wire data) that are not GraphDefs."""
    tf = tfcheck._tf()
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=2, device_count={"CPU": 1})
    node_as_varint = _key(GRAPHDEF_NODE_FIELD, WIRE_VARINT) + _varint(150)
    name_field_as_varint = _key(1, WIRE_VARINT) + _varint(7)  # NodeDef.name must be a string
    node_with_bad_name = (_key(GRAPHDEF_NODE_FIELD, WIRE_LEN) + _varint(len(name_field_as_varint)) +
                          name_field_as_varint)
    payloads = {
        "config_proto": config.SerializeToString(),
        "node_field_as_varint": node_as_varint,
        "node_name_as_varint": node_with_bad_name,
        "length_past_end": _key(GRAPHDEF_NODE_FIELD, WIRE_LEN) + _varint(1000) + b"abc",
        "overlong_varint": _key(GRAPHDEF_NODE_FIELD, WIRE_LEN) + b"\xff" * 11,
    }
    assert sorted(payloads) == sorted(NOT_A_GRAPHDEF_KINDS)
    return payloads


NOT_A_GRAPHDEF_KINDS = ["config_proto", "node_field_as_varint", "node_name_as_varint",
                        "length_past_end", "overlong_varint"]


@pytest.fixture
def good_model(tmp_path, base_bytes):
    return _write(tmp_path, "good.pb", base_bytes)


@pytest.fixture
def good_input(tmp_path):
    path = os.path.join(tmp_path, "x.npy")
    np.save(path, np.ones((2, IN_FEATURES), np.float32))
    return path


# ---------------------------------------------------------------------------------------------
# The control: the unmodified graph works, so failures below come from the modifications.

def test_base_graph_runs(tmp_path, good_model, good_input):
    assert_ok(run_cli(["run", good_model, "--input", f"{INPUT}={good_input}",
                       "--output-dir", os.path.join(tmp_path, "out")]))
    assert os.path.exists(os.path.join(tmp_path, "out", f"{OUTPUT}.npy"))
    pbmem = import_pbmem()
    out = pbmem.load(good_model).run({INPUT: np.ones((2, IN_FEATURES), np.float32)})
    assert out[OUTPUT].shape == (2, OUT_FEATURES)


# ---------------------------------------------------------------------------------------------
# Broken files.

def _check_bad_model_file(path, must_mention, good_input):
    """Both `inspect` and `run` fail (CLI), and pbmem.load or run raises pbmem.Error (Python)."""
    assert_cli_error(run_cli(["inspect", path]), *must_mention)
    assert_cli_error(run_cli(["run", path, "--input", f"{INPUT}={good_input}"]), *must_mention)
    pbmem = import_pbmem()
    with pytest.raises(pbmem.Error) as excinfo:
        pbmem.load(path).run({INPUT: np.ones((2, IN_FEATURES), np.float32)})
    assert_api_error(excinfo, *must_mention)


def test_truncated_files(tmp_path, base_bytes, good_input):
    lengths = _truncation_lengths(base_bytes)
    assert len(lengths) >= 5
    for n in lengths:
        path = _write(tmp_path, f"truncated_{n}.pb", base_bytes[:n])
        _check_bad_model_file(path, [f"truncated_{n}.pb"], good_input)


@pytest.mark.parametrize("seed", RANDOM_BYTES_SEEDS)
def test_random_bytes(tmp_path, seed, good_input):
    data = np.random.default_rng(seed).integers(0, 256, RANDOM_BYTES_LENGTH, dtype=np.uint8)
    path = _write(tmp_path, f"random_{seed}.pb", data.tobytes())
    _check_bad_model_file(path, [f"random_{seed}.pb"], good_input)


@pytest.mark.parametrize("kind", NOT_A_GRAPHDEF_KINDS)
def test_protobuf_that_is_not_a_graphdef(tmp_path, kind, good_input):
    path = _write(tmp_path, f"{kind}.pb", _not_a_graphdef_payloads()[kind])
    _check_bad_model_file(path, [f"{kind}.pb"], good_input)


def test_missing_model_file(tmp_path, good_input):
    path = os.path.join(tmp_path, "does_not_exist.pb")
    _check_bad_model_file(path, [path], good_input)


def test_directory_as_model(tmp_path, good_input):
    _check_bad_model_file(str(tmp_path), [str(tmp_path)], good_input)


@pytest.mark.parametrize("case", sorted(set(MALFORMED_GRAPHS) - {"unsupported_ops"}))
def test_malformed_graph(tmp_path, base, case, good_input):
    graph_def, must_mention = MALFORMED_GRAPHS[case](base)
    path = _write(tmp_path, f"{case}.pb", graph_def.SerializeToString())
    # `inspect` reports rather than runs, so only errors it must see are checked there: a
    # broken file, Const or edge. `run` must reject every case.
    assert_cli_error(run_cli(["run", path, "--input", f"{INPUT}={good_input}"]), *must_mention)
    pbmem = import_pbmem()
    with pytest.raises(pbmem.Error) as excinfo:
        pbmem.load(path).run({INPUT: np.ones((2, IN_FEATURES), np.float32)})
    assert_api_error(excinfo, *must_mention)


def test_cycle_error_says_cycle(tmp_path, base, good_input):
    graph_def, _ = _cycle(base)
    path = _write(tmp_path, "cycle.pb", graph_def.SerializeToString())
    message = assert_cli_error(run_cli(["run", path, "--input", f"{INPUT}={good_input}"]))
    assert "cycle" in message.lower(), message


def test_unsupported_ops_listed_all_at_once(tmp_path, base, good_input):
    graph_def, must_mention = _unsupported_ops(base)
    path = _write(tmp_path, "unsupported.pb", graph_def.SerializeToString())
    assert_cli_error(run_cli(["run", path, "--input", f"{INPUT}={good_input}"]), *must_mention)
    pbmem = import_pbmem()
    with pytest.raises(pbmem.Error) as excinfo:
        pbmem.load(path).run({INPUT: np.ones((2, IN_FEATURES), np.float32)})
    assert_api_error(excinfo, *must_mention)
    # inspect reports them instead of failing.
    result = run_cli(["inspect", path])
    assert_ok(result)
    for text in must_mention:
        assert text in result.stdout, f"inspect output does not list {text!r}:\n{result.stdout}"


# ---------------------------------------------------------------------------------------------
# Bad inputs and flags for a good model.

def _run_good(good_model, *args):
    return run_cli(["run", good_model] + [str(a) for a in args])


@pytest.mark.parametrize("case,array", [
    ("wrong_dtype", np.ones((2, IN_FEATURES), np.float64)),
    ("int_dtype", np.ones((2, IN_FEATURES), np.int32)),
    ("wrong_shape", np.ones((2, IN_FEATURES + 1), np.float32)),
    ("wrong_rank", np.ones((IN_FEATURES,), np.float32)),
    ("higher_rank", np.ones((1, 2, IN_FEATURES), np.float32)),
])
def test_bad_npy_input(tmp_path, good_model, case, array):
    path = os.path.join(tmp_path, f"{case}.npy")
    np.save(path, array)
    assert_cli_error(_run_good(good_model, "--input", f"{INPUT}={path}"), INPUT)
    pbmem = import_pbmem()
    with pytest.raises(pbmem.Error) as excinfo:
        pbmem.load(good_model).run({INPUT: array})
    assert_api_error(excinfo, INPUT)


def test_truncated_npy_body(tmp_path, good_model):
    path = os.path.join(tmp_path, "x.npy")
    np.save(path, np.ones((2, IN_FEATURES), np.float32))
    with open(path, "rb") as f:
        data = f.read()
    for cut in (4, 20, len(data) - 4):
        short = os.path.join(tmp_path, f"short_{cut}.npy")
        with open(short, "wb") as f:
            f.write(data[:cut])
        assert_cli_error(_run_good(good_model, "--input", f"{INPUT}={short}"), f"short_{cut}.npy")


def test_not_an_npy_file(tmp_path, good_model, base_bytes):
    path = _write(tmp_path, "model_not_npy.npy", base_bytes)
    assert_cli_error(_run_good(good_model, "--input", f"{INPUT}={path}"), "model_not_npy.npy")


def test_missing_input_file(tmp_path, good_model):
    path = os.path.join(tmp_path, "nope.npy")
    assert_cli_error(_run_good(good_model, "--input", f"{INPUT}={path}"), path)


def test_unknown_input_name(good_model, good_input):
    assert_cli_error(_run_good(good_model, "--input", f"no_such_input={good_input}"),
                     "no_such_input")
    pbmem = import_pbmem()
    with pytest.raises(pbmem.Error) as excinfo:
        pbmem.load(good_model).run({INPUT: np.ones((2, IN_FEATURES), np.float32),
                                    "no_such_input": np.ones((2,), np.float32)})
    assert_api_error(excinfo, "no_such_input")


def test_input_not_given(good_model):
    assert_cli_error(_run_good(good_model), INPUT)
    pbmem = import_pbmem()
    with pytest.raises(pbmem.Error) as excinfo:
        pbmem.load(good_model).run({})
    assert_api_error(excinfo, INPUT)


def test_unknown_output_name(good_model, good_input):
    assert_cli_error(_run_good(good_model, "--input", f"{INPUT}={good_input}",
                               "--output", "no_such_output"), "no_such_output")
    pbmem = import_pbmem()
    with pytest.raises(pbmem.Error) as excinfo:
        pbmem.load(good_model).run({INPUT: np.ones((2, IN_FEATURES), np.float32)},
                                   outputs=["no_such_output"])
    assert_api_error(excinfo, "no_such_output")


@pytest.mark.parametrize("threads", ["-1", "-7"])
def test_negative_threads(good_model, good_input, threads):
    assert_cli_error(_run_good(good_model, "--input", f"{INPUT}={good_input}",
                               "--threads", threads), "threads")
    pbmem = import_pbmem()
    with pytest.raises(pbmem.Error) as excinfo:
        pbmem.load(good_model, threads=int(threads)).run(
            {INPUT: np.ones((2, IN_FEATURES), np.float32)})
    assert_api_error(excinfo, "threads")


@pytest.mark.parametrize("threads", [100000, 2**31 - 1])
def test_thread_count_beyond_the_machine(good_model, good_input, threads):
    """libgomp segfaulted at 100000 threads: the count is bounded by the processors at hand."""
    assert_cli_error(_run_good(good_model, "--input", f"{INPUT}={good_input}",
                               "--threads", str(threads)), "thread count", str(threads))
    pbmem = import_pbmem()
    with pytest.raises(pbmem.Error) as excinfo:
        pbmem.load(good_model, threads=threads).run({INPUT: np.ones((2, IN_FEATURES), np.float32)})
    assert_api_error(excinfo, "thread count", str(threads))


def test_non_numeric_threads(good_model, good_input):
    assert_cli_error(_run_good(good_model, "--input", f"{INPUT}={good_input}",
                               "--threads", "many"), "threads")


@pytest.mark.parametrize("spec", ["2,x", "2,-3", "2"])
def test_bad_input_shape_flag(good_model, good_input, spec):
    assert_cli_error(_run_good(good_model, "--input", f"{INPUT}={good_input}",
                               "--input-shape", f"{INPUT}={spec}"), "--input-shape")


def test_output_dir_under_a_file(tmp_path, good_model, good_input):
    blocker = _write(tmp_path, "plain_file", b"x")
    out_dir = os.path.join(blocker, "sub")
    assert_cli_error(_run_good(good_model, "--input", f"{INPUT}={good_input}",
                               "--output-dir", out_dir), out_dir)


def test_output_dir_is_a_file(tmp_path, good_model, good_input):
    blocker = _write(tmp_path, "plain_file", b"x")
    assert_cli_error(_run_good(good_model, "--input", f"{INPUT}={good_input}",
                               "--output-dir", blocker), blocker)
    with open(blocker, "rb") as f:
        assert f.read() == b"x", "a failed run overwrote the file given as --output-dir"


def test_output_file_that_cannot_be_created(tmp_path, good_model, good_input):
    target = os.path.join(_write(tmp_path, "plain_file", b"x"), "y.npy")
    assert_cli_error(_run_good(good_model, "--input", f"{INPUT}={good_input}",
                               "--output", f"{OUTPUT}={target}"), target)


def test_unknown_subcommand_and_flag(good_model):
    assert_cli_error(run_cli(["frobnicate", good_model]))
    assert_cli_error(run_cli(["run", good_model, "--no-such-flag"]), "--no-such-flag")


def test_python_load_errors_are_runtime_errors(tmp_path):
    pbmem = import_pbmem()
    assert issubclass(pbmem.Error, RuntimeError)
    with pytest.raises(pbmem.Error) as excinfo:
        pbmem.load(os.path.join(tmp_path, "missing.pb"))
    assert_api_error(excinfo, "missing.pb")


@pytest.fixture(scope="module")
def example_model(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("example") / "example.pb")
    assert_ok(run_cli(["example", path]))
    return path


@pytest.mark.parametrize("batch", [2**31, 2**32, 2**40])
def test_batch_beyond_onednn_dimension_limit(example_model, batch):
    """A batch that no 32-bit index holds is refused by name before oneDNN sees it (2^32 made
    oneDNN divide by zero: SIGFPE with no message), in every command and in Python."""
    for command in (["plan", example_model, "--batch", batch],
                    ["fit", example_model, "--memory-limit", "1GB", "--input-shape",
                     f"input={batch},224,224,3"],
                    ["report", example_model, "--batch", batch, "-o",
                     os.path.join(os.path.dirname(example_model), "r.html")]):
        result = run_cli(command)
        assert_no_crash(result)
        if command[0] != "fit":  # fit may answer with a smaller batch than the shape asks
            assert_cli_error(result, str(batch))
    pbmem = import_pbmem()
    model = pbmem.load(example_model)
    with pytest.raises(pbmem.Error) as excinfo:
        model.plan(batch=batch)
    assert_api_error(excinfo, str(batch))


def test_fifo_as_model_or_input_is_refused_at_once(tmp_path, good_model, good_input):
    """A FIFO (or any non-regular file) is refused by name without waiting for a writer."""
    fifo = os.path.join(tmp_path, "pipe.pb")
    os.mkfifo(fifo)
    assert_cli_error(run_cli(["inspect", fifo], timeout=30), fifo, "not a regular file")
    fifo_npy = os.path.join(tmp_path, "pipe.npy")
    os.mkfifo(fifo_npy)
    assert_cli_error(run_cli(["run", good_model, "--input", f"{INPUT}={fifo_npy}"], timeout=30),
                     fifo_npy, "not a regular file")
    input_dir = os.path.join(tmp_path, "inputs")
    os.makedirs(input_dir)
    shutil.copy(good_input, os.path.join(input_dir, "a.npy"))
    os.mkfifo(os.path.join(input_dir, "b.npy"))
    result = run_cli(["run", good_model, "--input-dir", input_dir, "--output-dir",
                      os.path.join(tmp_path, "out")], timeout=30)
    # A batch run skips the files it cannot read, says which and why, and exits 2 (partial).
    assert_no_crash(result)
    assert result.returncode == 2, result.stderr
    assert "b.npy' is not a regular file" in result.stderr, result.stderr
