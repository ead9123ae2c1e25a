"""The `pbmem` command line on small TF-made graphs: inspect (text and JSON, unsupported ops
reported), run (summaries, output selection and files, .npy of every dtype against NumPy's own
reader and writer, all-or-nothing output files), ops and --version. Bad flags and bad files are
covered by test_bad_input.py."""
import json
import os
import re

import numpy as np
import pytest

import tfcheck
from cli import assert_cli_error, assert_ok, run_cli

X = np.array([[0.1, 2.0, -1.0, 0.5, 3.0, 0.0], [1.0, -2.0, 0.3, 4.0, 0.2, 0.1]], np.float32)
Y = np.array([5, 6, 7], np.int32)


def _save_graph(build, stem):
    """build() makes placeholders and ops in a fresh TF graph; returns the saved .pb path."""
    tf = tfcheck._tf()
    graph = tf.Graph()
    with graph.as_default():
        build(tf)
    return tfcheck.save_graph_bytes(graph.as_graph_def().SerializeToString(), stem)


@pytest.fixture(scope="module")
def two_output_model():
    """x float32 [?,6] -> "head/probs" = softmax(x); y int32 [3] -> "count" = y + 1."""
    def build(tf):
        x = tf.compat.v1.placeholder(tf.float32, [None, 6], name="x")
        y = tf.compat.v1.placeholder(tf.int32, [3], name="y")
        tf.nn.softmax(x, name="head/probs")
        tf.add(y, 1, name="count")
    return _save_graph(build, "cli_two_outputs")


@pytest.fixture(scope="module")
def unsupported_model():
    def build(tf):
        x = tf.compat.v1.placeholder(tf.float32, [4], name="x")
        # A real TF op that frozen inference graphs hardly ever hold (Cumsum was, before issue 17).
        tf.linalg.det(tf.reshape(tf.nn.relu(x), [2, 2]), name="cs")
    return _save_graph(build, "cli_unsupported")


def _npy(tmp_path, name, array):
    path = os.path.join(tmp_path, name)
    np.save(path, array)
    return path


def test_version_and_ops():
    result = run_cli(["--version"])
    assert_ok(result)
    assert result.stdout.startswith("pbmem ")
    ops = run_cli(["ops"])
    assert_ok(ops)
    names = ops.stdout.split()
    assert names == sorted(names) and "Conv2D" in names and "Placeholder" in names


def test_inspect_text_and_json(two_output_model):
    text = run_cli(["inspect", two_output_model])
    assert_ok(text)
    for fragment in ("inputs (2):", "x", "[?,6]", "outputs (2):", "head/probs", "count",
                     "Softmax", "unsupported ops: none"):
        assert fragment in text.stdout, text.stdout
    result = run_cli(["inspect", two_output_model, "--json"])
    assert_ok(result)
    summary = json.loads(result.stdout)
    assert summary["inputs"] == [
        {"name": "x", "dtype": "float", "shape": [None, 6], "has_default": False},
        {"name": "y", "dtype": "int32", "shape": [3], "has_default": False}]
    assert [o["name"] for o in summary["outputs"]] == ["head/probs", "count"]
    assert summary["num_nodes"] == 5
    assert summary["file_bytes"] == os.path.getsize(two_output_model)


def test_inspect_reports_unsupported_ops_run_refuses_them(unsupported_model, tmp_path):
    result = run_cli(["inspect", unsupported_model, "--json"])
    assert_ok(result)
    unsupported = json.loads(result.stdout)["unsupported"]
    assert len(unsupported) == 1 and "MatrixDeterminant" in unsupported[0] and "'cs'" in unsupported[0]
    x = _npy(tmp_path, "x.npy", np.ones(4, np.float32))
    assert_cli_error(run_cli(["run", unsupported_model, "--input", f"x={x}"]), "MatrixDeterminant", "cs")


def test_run_prints_summaries_and_top5(two_output_model, tmp_path):
    x = _npy(tmp_path, "x.npy", X)
    y = _npy(tmp_path, "y.npy", Y)
    result = run_cli(["run", two_output_model, "--input", f"x={x}", f"y:0={y}"])
    assert_ok(result)
    out = result.stdout
    assert "head/probs: float [2,6]" in out and "count: int32 [3]  min=6 max=8 mean=7" in out, out
    for row in range(2):
        line = next(l for l in out.splitlines() if l.startswith(f"  top-5 row {row}:"))
        shown = [int(m) for m in re.findall(r"(\d+) \(", line.split(":", 1)[1])]
        assert shown == list(np.argsort(-X[row], kind="stable")[:5]), line
    assert "top-5" not in out.split("count:")[1], "top-5 is only for 2-D float outputs"
    assert sorted(os.listdir(tmp_path)) == ["x.npy", "y.npy"], "wrote files without output flags"


def test_output_files_and_dir(two_output_model, tmp_path):
    x = _npy(tmp_path, "x.npy", X)
    y = _npy(tmp_path, "y.npy", Y)
    explicit = os.path.join(tmp_path, "counts.npy")
    out_dir = os.path.join(tmp_path, "new", "dir")
    # The model path may also come after the (multi-value) input flags.
    result = run_cli(["run", "--input", f"x={x}", f"y={y}", two_output_model,
                      "--output", "head/probs", f"count:0={explicit}", "--output-dir", out_dir])
    assert_ok(result)
    probs = np.load(os.path.join(out_dir, "head_probs.npy"))
    e = np.exp(X - X.max(axis=1, keepdims=True))
    np.testing.assert_allclose(probs, e / e.sum(axis=1, keepdims=True), rtol=1e-5)
    np.testing.assert_array_equal(np.load(explicit), Y + 1)
    assert os.listdir(out_dir) == ["head_probs.npy"], "no temporary files may be left behind"


def test_failed_run_writes_nothing(two_output_model, tmp_path):
    x = _npy(tmp_path, "x.npy", X)
    bad_y = _npy(tmp_path, "y.npy", np.arange(4, dtype=np.int32))  # y must be [3]
    out_dir = os.path.join(tmp_path, "out")
    assert_cli_error(run_cli(["run", two_output_model, "--input", f"x={x}", f"y={bad_y}",
                              "--output-dir", out_dir]), "'y'")
    assert not os.path.exists(out_dir)
    # Two outputs that would land on the same file are refused before running.
    same = os.path.join(tmp_path, "same.npy")
    assert_cli_error(run_cli(["run", two_output_model, "--input", f"x={x}", f"y={bad_y}",
                              "--output", f"head/probs={same}", f"count={same}"]), same)
    assert not os.path.exists(same)


DTYPES = ["float32", "float64", "float16", "int32", "int64", "uint8", "bool", "int8", "int16",
          "uint16", "uint32", "uint64"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_npy_of_every_dtype_round_trips_with_numpy(dtype, tmp_path):
    def build(tf):
        p = tf.compat.v1.placeholder(tf.as_dtype(dtype), None, name="p")
        tf.identity(p, name="same")
    model = _save_graph(build, f"cli_identity_{dtype}")
    rng = tfcheck.rng(3)
    for shape in [(2, 3), (), (0, 4), (1, 1, 5)]:
        value = (rng.standard_normal(shape) * 50).astype(dtype)
        src = _npy(tmp_path, "in.npy", value)
        dst = os.path.join(tmp_path, "out.npy")
        assert_ok(run_cli(["run", model, "--input", f"p={src}", "--output", f"same={dst}"]))
        got = np.load(dst)
        assert got.dtype == value.dtype and got.shape == value.shape
        np.testing.assert_array_equal(got, value)


def test_placeholder_with_default_is_an_optional_input(tmp_path):
    def build(tf):
        x = tf.compat.v1.placeholder(tf.float32, [None, 2], name="x")
        scale = tf.compat.v1.placeholder_with_default(np.float32(3.0), [], name="scale")
        tf.multiply(x, scale, name="scaled")
    model = _save_graph(build, "cli_with_default")
    summary = json.loads(run_cli(["inspect", model, "--json"]).stdout)
    assert [(i["name"], i["has_default"]) for i in summary["inputs"]] == [("x", False),
                                                                          ("scale", True)]
    assert "(optional: has a default)" in run_cli(["inspect", model]).stdout
    x = _npy(tmp_path, "x.npy", np.ones((1, 2), np.float32))
    out = os.path.join(tmp_path, "out.npy")
    assert_ok(run_cli(["run", model, "--input", f"x={x}", "--output", f"scaled={out}"]))
    np.testing.assert_array_equal(np.load(out), [[3.0, 3.0]])
    s = _npy(tmp_path, "s.npy", np.float32(0.5))
    assert_ok(run_cli(["run", model, "--input", f"x={x}", f"scale={s}", "--output",
                       f"scaled={out}"]))
    np.testing.assert_array_equal(np.load(out), [[0.5, 0.5]])
    assert_cli_error(run_cli(["run", model, "--input", f"scale={s}"]), "'x'", "--input")
