"""`pbmem run --input-dir DIR --output-dir OUT [--batch N|auto]`: batch processing of a directory.

A small TF-built conv + dense graph with an unknown batch dim keeps every test fast. Outputs are
checked against TensorFlow (the oracle) and against `pbmem run` on each file alone; pooling is
checked through --stats-json's per-batch allocation counts.
"""
import json
import os
import pty
import subprocess

import numpy as np
import pytest

import tfcheck
from cli import assert_cli_error, assert_no_crash, assert_ok, describe, pbmem_binary, run_cli

SAMPLE_SHAPE = (6, 6, 3)
FILTERS = 4
CLASSES = 5
EXIT_SKIPPED = 2
MANY_FILES = 1000
TF_CHECKED_FILES = 25
AUTO_LIMIT_BATCH = 96  # --batch auto is given the predicted peak of this batch as its limit


def _build(two_outputs=False):
    tf = tfcheck._tf()
    gen = tfcheck.rng(7)
    filt = gen.normal(0, 0.3, size=(3, 3, SAMPLE_SHAPE[2], FILTERS)).astype(np.float32)
    dense = gen.normal(0, 0.3, size=(SAMPLE_SHAPE[0] * SAMPLE_SHAPE[1] * FILTERS, CLASSES)).astype(np.float32)

    def build(x):
        h = tf.nn.relu(tf.nn.conv2d(x, tf.constant(filt), strides=1, padding="SAME"))
        flat = tf.reshape(h, [-1, dense.shape[0]])
        logits = tf.matmul(flat, tf.constant(dense))
        return [logits, tf.nn.softmax(logits)] if two_outputs else logits

    sample = np.zeros((1,) + SAMPLE_SHAPE, np.float32)
    data, names, _ = tfcheck.build_tf1_graph(build, {"x": sample}, dynamic_batch=True)
    return tfcheck.save_graph_bytes(data, "batchdir2" if two_outputs else "batchdir"), names


@pytest.fixture(scope="module")
def model():
    return _build()


@pytest.fixture(scope="module")
def model_two_outputs():
    return _build(two_outputs=True)


def _tf_run(path, name, x):
    tf = tfcheck._tf()
    graph_def = tf.compat.v1.GraphDef()
    with open(path, "rb") as f:
        graph_def.ParseFromString(f.read())
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as sess:
        return sess.run(name, {"x:0": x})


def _write_samples(directory, count, seed=0, stem="img"):
    os.makedirs(directory, exist_ok=True)
    gen = tfcheck.rng(seed)
    samples = gen.uniform(-1, 1, size=(count,) + SAMPLE_SHAPE).astype(np.float32)
    for i in range(count):
        np.save(os.path.join(directory, f"{stem}_{i:04d}.npy"), samples[i])
    return samples


def _stats(path):
    with open(path) as f:
        return json.load(f)


def _predicted_peak(model_path, batch):
    result = run_cli(["plan", model_path, "--batch", batch, "--json"])
    assert_ok(result)
    return json.loads(result.stdout)["predicted_peak_bytes"]


def test_thousand_files_auto_batch_pools_and_matches_tf(model, tmp_path):
    path, names = model
    samples = _write_samples(tmp_path / "in", MANY_FILES)
    limit = _predicted_peak(path, AUTO_LIMIT_BATCH)
    stats_path = tmp_path / "stats.json"
    result = run_cli(["run", path, "--input-dir", tmp_path / "in", "--output-dir", tmp_path / "out",
                      "--batch", "auto", "--memory-limit", limit, "--stats-json", stats_path])
    assert_ok(result)
    stats = _stats(stats_path)
    batch = stats["batch_size"]
    assert AUTO_LIMIT_BATCH <= batch < MANY_FILES, describe(result)
    batches = stats["batches"]
    assert len(batches) == -(-MANY_FILES // batch)
    assert sum(b["samples"] for b in batches) == MANY_FILES
    assert MANY_FILES % batch != 0, "the test needs a shorter last batch"
    assert batches[-1]["samples"] == MANY_FILES % batch
    assert batches[0]["num_allocs"] > 0
    for index, record in enumerate(batches[1:], start=1):
        assert record["num_allocs"] == 0, f"batch {index} allocated: {record}"
        assert record["max_bytes_in_use"] <= limit
    # Pooling keeps the full batch's blocks for the short last batch; the prediction counts them.
    assert batches[-1]["pooled_extra_bytes"] > 0
    assert batches[-1]["max_bytes_in_use"] == batches[-1]["predicted_peak_bytes"]
    assert "pbmem: progress: 1000/1000 samples" in result.stderr
    assert sorted(os.listdir(tmp_path / "out")) == sorted(os.listdir(tmp_path / "in"))
    picked = np.linspace(0, MANY_FILES - 1, TF_CHECKED_FILES).astype(int)
    want = _tf_run(path, names[0], samples[picked])
    for row, i in enumerate(picked):
        got = np.load(tmp_path / "out" / f"img_{i:04d}.npy")
        tfcheck.assert_matches(got, want[row], name=f"img_{i:04d}")


def test_outputs_equal_single_runs_with_stacked_files(model, tmp_path):
    path, _ = model
    gen = tfcheck.rng(3)
    inputs = {
        "a.npy": gen.uniform(-1, 1, size=SAMPLE_SHAPE).astype(np.float32),
        "b.npy": gen.uniform(-1, 1, size=(5,) + SAMPLE_SHAPE).astype(np.float32),  # spans batches
        "c.npy": gen.uniform(-1, 1, size=(1,) + SAMPLE_SHAPE).astype(np.float32),  # stacked, one sample
        "d.npy": gen.uniform(-1, 1, size=SAMPLE_SHAPE).astype(np.float32),
    }
    (tmp_path / "in").mkdir()
    for name, value in inputs.items():
        np.save(tmp_path / "in" / name, value)
    result = run_cli(["run", path, "--input-dir", tmp_path / "in", "--output-dir", tmp_path / "out",
                      "--batch", "3"])
    assert_ok(result)
    for name, value in inputs.items():
        single = run_cli(["run", path, "--input", f"x={tmp_path / 'in' / name}" if value.ndim == 4 else
                          f"x={_stacked(tmp_path, name, value)}", "--output", f"out0={tmp_path / 'single.npy'}"])
        assert_ok(single)
        want = np.load(tmp_path / "single.npy")
        got = np.load(tmp_path / "out" / name)
        if value.ndim == 3:
            assert got.shape == (CLASSES,)
            want = want[0]
        else:
            assert got.shape == (value.shape[0], CLASSES)
        tfcheck.assert_matches(got, want, name=name, tol=1e-6)


def _stacked(tmp_path, name, value):
    stacked = tmp_path / f"stacked_{name}"
    np.save(stacked, value[None])
    return stacked


def test_several_outputs_are_named_after_input_and_output(model_two_outputs, tmp_path):
    path, names = model_two_outputs
    samples = _write_samples(tmp_path / "in", 3)
    result = run_cli(["run", path, "--input-dir", tmp_path / "in", "--output-dir", tmp_path / "out", "--batch", "2"])
    assert_ok(result)
    assert sorted(os.listdir(tmp_path / "out")) == sorted(
        f"img_{i:04d}.{o}.npy" for i in range(3) for o in ("out0", "out1"))
    want = _tf_run(path, names[1], samples)
    for i in range(3):
        tfcheck.assert_matches(np.load(tmp_path / "out" / f"img_{i:04d}.out1.npy"), want[i])


def test_bad_files_are_named_and_skipped_with_exit_code_2(model, tmp_path):
    path, _ = model
    _write_samples(tmp_path / "in", 4)
    d = tmp_path / "in"
    (d / "notes.txt").write_text("not an array")
    np.save(d / "wrong_dtype.npy", np.zeros(SAMPLE_SHAPE, np.int32))
    np.save(d / "wrong_shape.npy", np.zeros((6, 5, 3), np.float32))
    np.save(d / "empty_stack.npy", np.zeros((0,) + SAMPLE_SHAPE, np.float32))
    good = (d / "img_0000.npy").read_bytes()
    (d / "truncated.npy").write_bytes(good[: len(good) // 2])
    (d / "subdir").mkdir()
    result = run_cli(["run", path, "--input-dir", d, "--output-dir", tmp_path / "out", "--batch", "3"])
    assert_no_crash(result)
    assert result.returncode == EXIT_SKIPPED, describe(result)
    for bad in ("notes.txt", "wrong_dtype.npy", "wrong_shape.npy", "empty_stack.npy", "truncated.npy"):
        assert any(line.startswith("pbmem: skipped ") and bad in line for line in result.stderr.splitlines()), \
            f"{bad} not reported\n{describe(result)}"
    assert "subdir" not in result.stderr
    assert sorted(os.listdir(tmp_path / "out")) == [f"img_{i:04d}.npy" for i in range(4)]


def test_existing_output_dir_keeps_other_files_and_replaces_outputs(model, tmp_path):
    path, _ = model
    _write_samples(tmp_path / "in", 2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    (out / "img_0000.npy").write_bytes(b"stale")
    assert_ok(run_cli(["run", path, "--input-dir", tmp_path / "in", "--output-dir", out]))
    assert (out / "keep.txt").read_text() == "mine"
    assert np.load(out / "img_0000.npy").shape == (CLASSES,)


def test_failure_mid_run_leaves_only_complete_files(model, tmp_path):
    path, _ = model
    _write_samples(tmp_path / "in", 6)
    out = tmp_path / "out"
    out.mkdir()
    (out / "img_0004.npy").mkdir()  # the 5th output cannot be renamed into place
    result = run_cli(["run", path, "--input-dir", tmp_path / "in", "--output-dir", out, "--batch", "2"])
    assert_cli_error(result, "img_0004")
    written = sorted(os.listdir(out))
    assert written == ["img_0000.npy", "img_0001.npy", "img_0002.npy", "img_0003.npy", "img_0004.npy"], written
    for name in written[:4]:
        assert np.load(out / name).shape == (CLASSES,)


@pytest.mark.parametrize("case", ["dir_missing", "dir_empty", "out_is_file", "out_is_in", "auto_without_limit",
                                  "batch_zero", "with_input", "no_output_dir", "batch_without_input_dir"])
def test_flag_and_directory_errors(model, tmp_path, case):
    path, _ = model
    _write_samples(tmp_path / "in", 2)
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x")
    args = {"dir_missing": (["--input-dir", tmp_path / "nope", "--output-dir", tmp_path / "o"], "nope"),
            "dir_empty": (["--input-dir", tmp_path / "empty", "--output-dir", tmp_path / "o"], "empty"),
            "out_is_file": (["--input-dir", tmp_path / "in", "--output-dir", tmp_path / "file"], "--output-dir"),
            "out_is_in": (["--input-dir", tmp_path / "in", "--output-dir", tmp_path / "in"], "--input-dir"),
            "auto_without_limit": (["--input-dir", tmp_path / "in", "--output-dir", tmp_path / "o", "--batch", "auto"],
                                   "--memory-limit"),
            "batch_zero": (["--input-dir", tmp_path / "in", "--output-dir", tmp_path / "o", "--batch", "0"], "--batch"),
            "with_input": (["--input-dir", tmp_path / "in", "--output-dir", tmp_path / "o", "--input",
                            f"x={tmp_path / 'in' / 'img_0000.npy'}"], "--input"),
            "no_output_dir": (["--input-dir", tmp_path / "in"], "--output-dir"),
            "batch_without_input_dir": (["--input", f"x={tmp_path / 'in' / 'img_0000.npy'}", "--output-dir",
                                         tmp_path / "o", "--batch", "2"], "--input-dir")}[case]
    assert_cli_error(run_cli(["run", path] + args[0]), str(args[1]))
    assert not (tmp_path / "o").exists()


def test_progress_redraws_one_line_on_a_tty(model, tmp_path):
    path, _ = model
    _write_samples(tmp_path / "in", 5)
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.run([pbmem_binary(), "run", path, "--input-dir", tmp_path / "in", "--output-dir",
                               tmp_path / "out", "--batch", "2"], stdout=subprocess.PIPE, stderr=terminal,
                              timeout=120)
        os.close(terminal)
        terminal = -1
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the pty's other side is closed: everything was read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if terminal >= 0:
            os.close(terminal)
        os.close(controller)
    err = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, err
    assert err.count("\r\x1b[K") == 3, err  # batches of 2, 2 and 1
    assert "5/5 samples" in err and "samples/s" in err and "max_bytes_in_use" in err
    assert "pbmem: progress:" not in err


def test_zoo_model_short_last_batch_allocates_nothing(tmp_path):
    """MobileNetV2 (folded BatchNorm, packed conv weights): the short last batch re-prepares from
    the cached constants and the packed weights of the full batch, allocating nothing."""
    import models
    model = models.get_model("mobilenet_v2")
    (name, shape), = [(n, s) for n, s in model.inputs.items() if n not in model.optional_inputs]
    images = models.synthetic_images(3, shape[1], model.input_ranges[name])
    (tmp_path / "in").mkdir()
    for i, image in enumerate(images):
        np.save(tmp_path / "in" / f"img_{i}.npy", image)
    stats_path = tmp_path / "stats.json"
    assert_ok(run_cli(["run", model.path, "--input-dir", tmp_path / "in", "--output-dir", tmp_path / "out",
                       "--batch", "2", "--threads", "1", "--output", model.outputs["probs"],
                       "--stats-json", stats_path]))
    batches = _stats(stats_path)["batches"]
    assert [b["samples"] for b in batches] == [2, 1]
    assert batches[0]["num_allocs"] > 0 and batches[1]["num_allocs"] == 0, batches
    assert batches[1]["max_bytes_in_use"] == batches[1]["predicted_peak_bytes"]
    np.save(tmp_path / "single_in.npy", images[2:3])
    assert_ok(run_cli(["run", model.path, "--input", f"{name}={tmp_path / 'single_in.npy'}", "--threads", "1",
                       "--output", f"{model.outputs['probs']}={tmp_path / 'single.npy'}"]))
    tfcheck.assert_matches(np.load(tmp_path / "out" / "img_2.npy"), np.load(tmp_path / "single.npy")[0],
                           name="img_2", tol=1e-6)
