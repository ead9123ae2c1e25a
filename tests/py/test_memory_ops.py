"""TensorFlow's memory-stats ops (MaxBytesInUse, BytesInUse, BytesLimit) run by pbmem.

TF 2.21 no longer registers them (they were tf.contrib.memory_stats), so the graphs are built
with TF ops and the stat NodeDefs appended to the GraphDef by hand, as TF 1.x wrote them: no
attrs, no data inputs, optionally control inputs ("^node") to place them in the schedule; one
int64 scalar output. Their values must be the session's figures for the run: max_bytes_in_use(),
bytes_in_use(), bytes_limit() (the memory_limit when one is given). pbmem allocates nothing while
running, so every MaxBytesInUse, wherever it sits, reports the planned peak.
"""
import json
import os

import numpy as np
import pytest

import tfcheck
from cli import assert_api_error, assert_ok, import_pbmem, run_cli

BATCH = 3
IMAGE = (BATCH, 12, 12, 3)
MEMORY_LIMIT = 64 << 20
STAT_OPS = {"MaxBytesInUse", "BytesInUse", "BytesLimit"}


@pytest.fixture(scope="module")
def pbmem():
    return import_pbmem()


def _stat_node(graph_def, name, op, control_inputs=()):
    node = graph_def.node.add()
    node.name = name
    node.op = op
    for control in control_inputs:
        node.input.append("^" + control)


@pytest.fixture(scope="module")
def stats_graph():
    """image -> conv -> relu -> (mean, max pool) plus stat nodes at several places.
    Returns (path, feeds, {output: TF value}, stat node names)."""
    tf = tfcheck._tf()
    gen = np.random.default_rng(7)
    image = gen.uniform(-1, 1, IMAGE).astype(np.float32)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None] + list(IMAGE[1:]), name="image")
        w = tf.constant(gen.normal(0, 0.3, (3, 3, 3, 16)).astype(np.float32))
        conv = tf.nn.conv2d(x, w, strides=1, padding="SAME", name="conv")
        relu = tf.nn.relu(conv, name="relu")
        pooled = tf.nn.max_pool2d(relu, ksize=2, strides=2, padding="VALID", name="pool")
        mean = tf.reduce_mean(pooled, axis=[1, 2], name="mean")
        with tf.compat.v1.Session(graph=graph) as sess:
            want = dict(zip(["mean", "pool"], sess.run([mean, pooled], {x: image})))
        graph_def = graph.as_graph_def()
    # Before anything runs, after the conv, after the last op, and with no control input.
    _stat_node(graph_def, "max_early", "MaxBytesInUse", ["conv"])
    _stat_node(graph_def, "max_late", "MaxBytesInUse", ["mean", "pool"])
    _stat_node(graph_def, "max_free", "MaxBytesInUse")
    _stat_node(graph_def, "in_use_mid", "BytesInUse", ["relu"])
    _stat_node(graph_def, "in_use_late", "BytesInUse", ["mean"])
    _stat_node(graph_def, "limit", "BytesLimit")
    stats = ["max_early", "max_late", "max_free", "in_use_mid", "in_use_late", "limit"]
    path = tfcheck.save_graph_bytes(graph_def.SerializeToString(), "memory_stats_ops")
    return path, {"image": image}, want, stats


OUTPUTS = ["mean", "pool", "max_early", "max_late", "max_free", "in_use_mid", "in_use_late",
           "limit"]


def _scalar(value, name):
    value = np.asarray(value)
    assert value.dtype == np.int64 and value.shape == (), \
        f"{name}: expected an int64 scalar, got {value.dtype} {value.shape}"
    return int(value)


def test_stat_ops_report_the_session_figures(pbmem, stats_graph):
    path, feeds, want, _ = stats_graph
    model = pbmem.load(path, memory_limit=MEMORY_LIMIT)
    predicted = model.plan(input_shapes={"image": IMAGE}, outputs=OUTPUTS)["predicted_peak_bytes"]
    for repeat in range(2):
        out = model.run(feeds, outputs=OUTPUTS)
        for name in ("mean", "pool"):
            tfcheck.assert_matches(out[name], want[name], name=name)
        values = {name: _scalar(out[name], name) for name in OUTPUTS if name not in want}
        where = f"run {repeat}: {values}, stats {model.stats()}"
        for name in ("max_early", "max_late", "max_free"):
            assert values[name] == model.max_bytes_in_use(), \
                f"{name} != max_bytes_in_use(); {where}"
            assert values[name] == predicted, f"{name} != predicted peak {predicted}; {where}"
        for name in ("in_use_mid", "in_use_late"):
            assert values[name] == model.bytes_in_use(), f"{name} != bytes_in_use(); {where}"
        assert values["limit"] == model.bytes_limit() == MEMORY_LIMIT, where
        assert model.stats()["bytes_limit"] == MEMORY_LIMIT, where


def test_bytes_limit_without_a_limit_is_the_sessions(pbmem, stats_graph):
    """Without memory_limit, BytesLimit reports what the session does: the machine's memory
    (as TF's CPU allocator reports its own limit)."""
    path, feeds, _, _ = stats_graph
    model = pbmem.load(path)
    out = model.run(feeds, outputs=["limit", "max_late"])
    limit = _scalar(out["limit"], "limit")
    assert limit == model.bytes_limit() > 0
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert limit == physical, f"BytesLimit {limit} != physical memory {physical}"
    assert _scalar(out["max_late"], "max_late") == model.max_bytes_in_use()


def test_stat_op_alone_and_in_a_subset(pbmem, stats_graph):
    """A stat node requested alone still prepares (and counts) only what it needs."""
    path, feeds, _, _ = stats_graph
    model = pbmem.load(path, memory_limit=MEMORY_LIMIT)
    out = model.run(feeds, outputs=["max_early"])
    assert _scalar(out["max_early"], "max_early") == model.max_bytes_in_use()
    out = model.run(feeds, outputs=["limit"])
    assert _scalar(out["limit"], "limit") == MEMORY_LIMIT


def test_memory_limit_below_the_plan_is_an_error(pbmem, stats_graph):
    path, feeds, _, _ = stats_graph
    needed = pbmem.load(path).plan(input_shapes={"image": IMAGE}, outputs=OUTPUTS)[
        "predicted_peak_bytes"]
    model = pbmem.load(path, memory_limit=needed // 2)
    with pytest.raises(pbmem.Error) as excinfo:
        model.run(feeds, outputs=OUTPUTS)
    assert_api_error(excinfo, "limit")
    # Exactly the predicted peak is enough.
    model = pbmem.load(path, memory_limit=needed)
    out = model.run(feeds, outputs=OUTPUTS)
    assert _scalar(out["max_late"], "max_late") == needed


def test_stat_ops_through_the_cli(stats_graph, tmp_path):
    """`pbmem run --output NAME=FILE.npy` writes the stat values; --stats-json agrees."""
    path, feeds, want, stats = stats_graph
    input_path = tmp_path / "image.npy"
    np.save(input_path, feeds["image"])
    args = ["run", path, "--input", f"image={input_path}", "--stats-json", tmp_path / "stats.json"]
    for name in ["mean"] + stats:
        args += ["--output", f"{name}={tmp_path / (name + '.npy')}"]
    result = run_cli(args)
    assert_ok(result)
    with open(tmp_path / "stats.json") as f:
        run_stats = json.load(f)
    values = {name: _scalar(np.load(tmp_path / f"{name}.npy"), name) for name in stats}
    tfcheck.assert_matches(np.load(tmp_path / "mean.npy"), want["mean"], name="mean")
    for name in ("max_early", "max_late", "max_free"):
        assert values[name] == run_stats["max_bytes_in_use"], f"{name}: {values} vs {run_stats}"
    for name in ("in_use_mid", "in_use_late"):
        assert values[name] == run_stats["bytes_in_use"], f"{name}: {values} vs {run_stats}"
    assert values["limit"] == run_stats["bytes_limit"], f"{values} vs {run_stats}"
    assert run_stats["max_bytes_in_use"] == run_stats["predicted_peak_bytes"], run_stats
