"""The Python API of docs/PYTHON_API.md: specs, run, output selection, and a pbmem.Error (never a
crash, never another exception type) for every kind of misuse."""
import os
import pathlib
import threading

import numpy as np
import pytest

import tfcheck
from cli import assert_api_error, import_pbmem

X = np.array([[-1.0, 0.5, 2.0], [3.0, -4.0, 0.25]], np.float32)
Y = np.array([7, -2], np.int32)


@pytest.fixture(scope="module")
def pbmem():
    return import_pbmem()


@pytest.fixture(scope="module")
def tiny(pbmem):
    """x: float32 [?,3], y: int32 [?] -> out0 = relu(x) * 2, out1 = y + 1.
    Returns (path, TF results)."""
    tf = tfcheck._tf()

    def build(x, y):
        return [tf.nn.relu(x) * 2.0, y + 1]

    # dynamic_batch makes the first dim of both inputs unknown.
    data, names, want = tfcheck.build_tf1_graph(build, {"x": X, "y": Y}, dynamic_batch=True)
    assert names == ["out0:0", "out1:0"]
    return tfcheck.save_graph_bytes(data, "python_api"), want


@pytest.fixture(scope="module")
def model(pbmem, tiny):
    return pbmem.load(tiny[0], threads=1)


def test_specs(pbmem, model):
    assert [(s.name, s.dtype, s.shape) for s in model.inputs] == [
        ("x", np.dtype(np.float32), (None, 3)), ("y", np.dtype(np.int32), (None,))]
    assert [s.name for s in model.outputs] == ["out0", "out1"]
    assert model.outputs[0].dtype == np.float32 and model.outputs[0].shape == (None, 3)
    assert isinstance(model.inputs[0], pbmem.TensorSpec)
    assert model.inputs[0] == pbmem.TensorSpec("x", np.dtype("float32"), (None, 3))


def test_run_matches_tf(model, tiny):
    out = model.run({"x": X, "y": Y})
    assert sorted(out) == ["out0", "out1"]
    tfcheck.assert_matches(out["out0"], tiny[1][0], "out0")
    tfcheck.assert_matches(out["out1"], tiny[1][1], "out1")


def test_output_selection_and_names(model, tiny):
    out = model.run({"x:0": X, "y": Y}, outputs=["out1:0", "out0"])
    assert list(out) == ["out1:0", "out0"]
    np.testing.assert_array_equal(out["out1:0"], tiny[1][1])
    # Only what the requested outputs need must be fed.
    only = model.run({"y": Y}, outputs="out1")
    np.testing.assert_array_equal(only["out1"], tiny[1][1])


def test_inputs_are_converted_to_c_order_and_outputs_are_fresh(model):
    wide = np.asfortranarray(np.tile(X, (3, 1)))
    strided = np.tile(X, (1, 2))[:, ::2]
    for x in (wide, strided):
        out = model.run({"x": x}, outputs=["out0"])["out0"]
        np.testing.assert_allclose(out, np.maximum(np.asarray(x), 0) * 2)
    first = model.run({"x": X}, outputs=["out0"])["out0"]
    assert first.flags.writeable
    first[...] = 123
    again = model.run({"x": X}, outputs=["out0"])["out0"]
    np.testing.assert_allclose(again, np.maximum(X, 0) * 2)


def test_batch_size_may_change_between_runs(model):
    for batch in (1, 5, 2):
        x = np.full((batch, 3), 1.5, np.float32)
        assert model.run({"x": x}, outputs=["out0"])["out0"].shape == (batch, 3)


def test_input_shapes(pbmem, model):
    out = model.run({"x": X}, outputs=["out0"], input_shapes={"x": (2, 3)})
    assert out["out0"].shape == (2, 3)
    with pytest.raises(pbmem.Error) as e:
        model.run({"x": X}, outputs=["out0"], input_shapes={"x": (5, 3)})
    assert_api_error(e, "x")
    for bad in ({"x": "2,3"}, {"x": (2, -1)}, {"x": (2.5, 3)}, [("x", (2, 3))]):
        with pytest.raises(pbmem.Error):
            model.run({"x": X}, outputs=["out0"], input_shapes=bad)


def test_wrong_dtype_is_not_cast(pbmem, model):
    with pytest.raises(pbmem.Error) as e:
        model.run({"x": X.astype(np.float64), "y": Y})
    assert_api_error(e, "'x'", "float32", "float64")
    with pytest.raises(pbmem.Error) as e:
        model.run({"x": X, "y": [7, -2]})  # a Python int list is int64
    assert_api_error(e, "'y'", "int32", "int64")
    with pytest.raises(pbmem.Error) as e:
        model.run({"x": X.astype(">f4"), "y": Y})  # big endian is another dtype
    assert_api_error(e, "'x'")
    with pytest.raises(pbmem.Error):
        model.run({"x": [[1.0, 2.0], [3.0]], "y": Y})  # ragged: not an array at all


def test_wrong_shape(pbmem, model):
    with pytest.raises(pbmem.Error) as e:
        model.run({"x": np.zeros((2, 4), np.float32), "y": Y})
    assert_api_error(e, "'x'", "[?,3]")
    with pytest.raises(pbmem.Error) as e:
        model.run({"x": np.zeros((3,), np.float32), "y": Y})
    assert_api_error(e, "'x'")


def test_unknown_input_name(pbmem, model):
    with pytest.raises(pbmem.Error) as e:
        model.run({"x": X, "y": Y, "z": X})
    assert_api_error(e, "'z'", "x", "y")


def test_missing_input(pbmem, model):
    with pytest.raises(pbmem.Error) as e:
        model.run({"x": X})
    assert_api_error(e, "'y'", "int32")


def test_unknown_output_name(pbmem, model):
    with pytest.raises(pbmem.Error) as e:
        model.run({"x": X, "y": Y}, outputs=["nope"])
    assert_api_error(e, "nope")
    with pytest.raises(pbmem.Error) as e:
        model.run({"x": X, "y": Y}, outputs=["out0:3"])
    assert_api_error(e, "out0")


def test_bad_argument_types(pbmem, model):
    bad_calls = [
        lambda: model.run([X, Y]),
        lambda: model.run({1: X}),
        lambda: model.run({"x": X, "y": Y}, outputs=[1]),
        lambda: model.run({"x": X, "y": Y}, outputs=5),
        lambda: pbmem.load(None),
        lambda: pbmem.load(model.path, threads=-1),
        lambda: pbmem.load(model.path, threads="2"),
        lambda: pbmem.load(model.path, threads=2**40),
    ]
    for call in bad_calls:
        with pytest.raises(pbmem.Error):
            call()


def test_bad_model_files(pbmem, tiny, tmp_path):
    data = open(tiny[0], "rb").read()
    cases = {
        "truncated.pb": data[: len(data) // 2],
        "garbage.pb": bytes(range(256)) * 8,
        "empty_but_text.pb": b"this is not a protobuf\n",
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(pbmem.Error) as e:
            pbmem.load(path)
        assert_api_error(e, name)
    with pytest.raises(pbmem.Error) as e:
        pbmem.load(tmp_path / "missing.pb")
    assert_api_error(e, "missing.pb")
    with pytest.raises(pbmem.Error):
        pbmem.load(tmp_path)  # a directory


def test_summary(pbmem, model):
    s = model.summary()
    assert set(s) == {"path", "file_bytes", "num_nodes", "inputs", "outputs", "op_histogram",
                      "num_params", "weight_bytes", "unsupported"}
    assert s["path"] == model.path
    assert s["file_bytes"] == os.path.getsize(model.path)
    assert s["num_nodes"] >= 6
    assert s["inputs"] == model.inputs and s["outputs"] == model.outputs
    assert s["op_histogram"]["Placeholder"] == 2 and s["op_histogram"]["Relu"] == 1
    counts = list(s["op_histogram"].values())
    assert counts == sorted(counts, reverse=True)
    assert s["unsupported"] == []


def test_pathlike_threads_and_module_attributes(pbmem, tiny):
    m = pbmem.load(pathlib.Path(tiny[0]))
    assert m.threads == 0
    ops = pbmem.supported_ops()
    assert ops == sorted(ops) and "Conv2D" in ops and "Relu" in ops
    assert isinstance(pbmem.__version__, str) and pbmem.__version__
    assert issubclass(pbmem.Error, RuntimeError)


def test_concurrent_runs_from_threads(model):
    errors = []

    def worker(seed):
        try:
            rng = np.random.default_rng(seed)
            for _ in range(20):
                x = rng.standard_normal((seed + 1, 3)).astype(np.float32)
                got = model.run({"x": x}, outputs=["out0"])["out0"]
                np.testing.assert_allclose(got, np.maximum(x, 0) * 2)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
