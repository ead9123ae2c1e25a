"""`pbmem example` writes a MobileNet-v1-shaped model that TensorFlow itself loads and runs: TF and
pbmem (CLI and Python API) must agree on it, and the file must be reproducible from its seed."""
import json

import numpy as np
import pytest

import tfcheck
from cli import assert_ok, import_pbmem, run_cli

SEED = 5
BATCH = 2
IMAGE_SHAPE = (224, 224, 3)
NUM_CLASSES = 1000
# MobileNet v1 at alpha 1.0 has 4.2M weights; with the BatchNorm constants a little more.
PARAMS_RANGE = (4_200_000, 4_300_000)


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    path = tmp_path_factory.mktemp("example") / "example.pb"
    assert_ok(run_cli(["example", path, "--seed", SEED]))
    return path


@pytest.fixture(scope="module")
def image_batch():
    return tfcheck.rng(SEED).random((BATCH,) + IMAGE_SHAPE, dtype=np.float32)


@pytest.fixture(scope="module")
def tf_probs(example, image_batch):
    tf = tfcheck._tf()
    graph_def = tf.compat.v1.GraphDef.FromString(example.read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as sess:
        return sess.run("probs:0", {"input:0": image_batch})


def test_tf_and_cli_agree(example, image_batch, tf_probs, tmp_path):
    assert tf_probs.shape == (BATCH, NUM_CLASSES)
    np.testing.assert_allclose(tf_probs.sum(axis=1), 1.0, rtol=1e-5)
    inp = tmp_path / "input.npy"
    np.save(inp, image_batch)
    out_dir = tmp_path / "out"
    result = run_cli(["run", example, "--input", f"input={inp}", "--output-dir", out_dir,
                      "--threads", "2"])
    assert_ok(result)
    got = np.load(out_dir / "probs.npy")
    tfcheck.assert_matches(got, tf_probs, "probs")
    assert "probs: float [2,1000]" in result.stdout
    top1 = int(np.argmax(tf_probs[0]))
    assert f"top-5 row 0: {top1} (" in result.stdout, result.stdout


def test_tf_and_python_api_agree(example, image_batch, tf_probs):
    pbmem = import_pbmem()
    model = pbmem.load(example)
    assert [(s.name, s.shape) for s in model.inputs] == [("input", (None,) + IMAGE_SHAPE)]
    assert [(s.name, s.shape) for s in model.outputs] == [("probs", (None, NUM_CLASSES))]
    got = model.run({"input": image_batch})["probs"]
    tfcheck.assert_matches(got, tf_probs, "probs")
    # One image at a time gives the same rows.
    single = model.run({"input": image_batch[1:]})["probs"]
    tfcheck.assert_matches(single[0], tf_probs[1], "probs[1]")


def test_inspect_describes_mobilenet(example):
    result = run_cli(["inspect", example, "--json"])
    assert_ok(result)
    summary = json.loads(result.stdout)
    assert summary["inputs"] == [
        {"name": "input", "dtype": "float", "shape": [None, 224, 224, 3], "has_default": False}]
    assert summary["outputs"] == [{"name": "probs", "dtype": "float", "shape": [None, NUM_CLASSES]}]
    ops = {entry["op"]: entry["count"] for entry in summary["op_histogram"]}
    assert ops["Conv2D"] == 14 and ops["DepthwiseConv2dNative"] == 13
    assert ops["FusedBatchNormV3"] == 27 and ops["Relu6"] == 27
    assert ops["Mean"] == ops["MatMul"] == ops["BiasAdd"] == ops["Softmax"] == 1
    assert PARAMS_RANGE[0] <= summary["num_params"] <= PARAMS_RANGE[1]
    assert summary["weight_bytes"] >= 4 * summary["num_params"]
    assert summary["file_bytes"] == example.stat().st_size
    assert summary["unsupported"] == []


def test_seed_reproducibility(example, tmp_path):
    again = tmp_path / "again.pb"
    other = tmp_path / "other.pb"
    assert_ok(run_cli(["example", again, "--seed", SEED]))
    assert_ok(run_cli(["example", other, "--seed", SEED + 1]))
    assert again.read_bytes() == example.read_bytes()
    assert other.read_bytes() != example.read_bytes()
