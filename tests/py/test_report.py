"""`pbmem run --trace` (Chrome trace) and `pbmem report` (self-contained HTML), on small TF-made
graphs: the trace has one complete event per step in run order with monotonic timestamps, and
its counters reach exactly the run's max_bytes_in_use; the report's peak step and node are
`pbmem plan --json`'s, every model-provided string is escaped, the page references nothing
outside itself, and bad flags fail before anything is written (no partial files)."""
import html
import html.parser
import json
import os

import numpy as np
import pytest

import tfcheck
from cli import assert_api_error, assert_cli_error, assert_ok, import_pbmem, run_cli

IMAGE = np.random.default_rng(11).uniform(-1, 1, (3, 10, 10, 4)).astype(np.float32)
# A node name no HTML page may print raw; TF itself would refuse it, so it is patched into the
# GraphDef. No ':' or '^' (they mean ports and control inputs in input lists).
EVIL = "blk<script>alert('x')</script>&amp;\"q\"/"
PLANNED_COUNTER = "planned bytes"
MEASURED_COUNTER = "bytes_in_use"
PLANNED_PARTS = {"weights_packed", "scratch", "io", "activations_live", "arena_free"}
# The only URL a self-contained page may hold: the SVG namespace (an identifier, not fetched).
SVG_NAMESPACE = "http://www.w3.org/2000/svg"


def _build(image):
    tf = tfcheck._tf()
    gen = np.random.default_rng(12)
    kernel = gen.normal(0, 0.3, (3, 3, 4, 6)).astype(np.float32)
    dense = gen.normal(0, 0.3, (6, 5)).astype(np.float32)
    y = tf.nn.relu(tf.nn.conv2d(image, tf.constant(kernel), strides=1, padding="SAME"))
    z = tf.nn.max_pool2d(y, 2, 2, "VALID")
    return tf.nn.softmax(tf.matmul(tf.reduce_mean(z, axis=[1, 2]), tf.constant(dense)))


@pytest.fixture(scope="module")
def small_graph():
    data, names, _ = tfcheck.build_tf1_graph(_build, {"image": IMAGE}, dynamic_batch=True)
    assert names == ["out0:0"]
    return tfcheck.save_graph_bytes(data, "report_small")


@pytest.fixture(scope="module")
def evil_graph():
    """small_graph with every node but the input renamed EVIL + name (inputs follow)."""
    tf = tfcheck._tf()
    data, _, _ = tfcheck.build_tf1_graph(_build, {"image": IMAGE}, dynamic_batch=True)
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(data)
    renamed = {node.name: EVIL + node.name for node in graph_def.node if node.name != "image"}
    for node in graph_def.node:
        node.name = renamed.get(node.name, node.name)
        for i, ref in enumerate(node.input):
            control = ref.startswith("^")
            name, sep, port = ref.lstrip("^").partition(":")
            node.input[i] = ("^" if control else "") + renamed.get(name, name) + sep + port
    return tfcheck.save_graph_bytes(graph_def.SerializeToString(), "report_evil")


def _plan(model, *args):
    result = run_cli(["plan", model, *args, "--json"])
    assert_ok(result)
    return json.loads(result.stdout)


def _listing(directory):
    return sorted(os.listdir(directory))


# ---------------------------------------------------------------------------------------------
# --trace


def _traced_run(tmp_path, model, extra=()):
    np.save(tmp_path / "image.npy", IMAGE)
    trace_path, stats_path = tmp_path / "trace.json", tmp_path / "stats.json"
    result = run_cli(["run", model, "--input", f"image={tmp_path / 'image.npy'}", "--trace",
                      trace_path, "--stats-json", stats_path, *extra])
    assert_ok(result)
    with open(trace_path) as f:
        trace = json.load(f)
    with open(stats_path) as f:
        stats = json.load(f)
    assert not [p for p in _listing(tmp_path) if ".tmp" in p], _listing(tmp_path)
    return trace, stats


def test_trace_has_one_event_per_step_and_the_runs_peak(small_graph, tmp_path):
    trace, stats = _traced_run(tmp_path, small_graph)
    plan = _plan(small_graph, "--input-shape", "image=" + ",".join(map(str, IMAGE.shape)))
    events = trace["traceEvents"]
    steps = [e for e in events if e["ph"] == "X"]
    assert len(steps) == plan["num_steps"] > 0, (len(steps), plan["num_steps"])
    assert [e["args"]["step"] for e in steps] == list(range(plan["num_steps"]))
    assert len({(e["pid"], e["tid"]) for e in steps}) == 1, "steps are not on one track"
    for e in steps:
        assert e["name"] and e["cat"] == e["args"]["op"], e
        assert e["dur"] >= 0 and isinstance(e["args"]["output_shapes"], list), e
        assert e["args"]["output_bytes"] >= 0, e
    # Run order: each step starts after the previous one ended (timestamps in microseconds).
    for before, after in zip(steps, steps[1:]):
        assert after["ts"] >= before["ts"] + before["dur"], (before, after)
    assert steps[plan["peak_step"]]["name"] == plan["peak_node"]

    planned = [e for e in events if e["ph"] == "C" and e["name"] == PLANNED_COUNTER]
    measured = [e for e in events if e["ph"] == "C" and e["name"] == MEASURED_COUNTER]
    assert len(planned) == len(measured) == plan["num_steps"]
    for e in planned:
        assert set(e["args"]) == PLANNED_PARTS, e["args"]
        assert all(v >= 0 for v in e["args"].values()), e["args"]
    totals = [sum(e["args"].values()) for e in planned]
    assert max(totals) == stats["max_bytes_in_use"] == plan["predicted_peak_bytes"]
    assert max(e["args"]["bytes_in_use"] for e in measured) == stats["max_bytes_in_use"]
    live = [e["args"]["activations_live"] for e in planned]
    assert max(live) == plan["lower_bound_bytes"]
    assert live.index(max(live)) == plan["peak_step"]
    assert [e["ts"] for e in planned] == [e["ts"] for e in steps]
    assert trace["otherData"]["max_bytes_in_use"] == stats["max_bytes_in_use"]


def test_trace_flag_errors_come_before_the_run(small_graph, tmp_path):
    np.save(tmp_path / "image.npy", IMAGE)
    args = ["run", small_graph, "--input", f"image={tmp_path / 'image.npy'}"]
    before = _listing(tmp_path)
    result = run_cli(args + ["--trace", tmp_path / "missing" / "t.json"])
    assert_cli_error(result, "--trace", "missing")
    assert "out0" not in result.stdout, "the model ran although --trace was bad"
    assert_cli_error(run_cli(args + ["--trace", tmp_path]), "--trace", "directory")
    same = tmp_path / "same.json"
    assert_cli_error(run_cli(args + ["--trace", same, "--stats-json", same]), "--trace",
                     "--stats-json")
    assert_cli_error(run_cli(args + ["--output", f"out0={same}", "--trace", same]), "--trace",
                     "out0")
    assert _listing(tmp_path) == before


def test_no_trace_when_the_run_fails(small_graph, tmp_path):
    wrong = np.zeros((2, 10, 10, 3), np.float32)  # 3 channels, the graph wants 4
    np.save(tmp_path / "wrong.npy", wrong)
    result = run_cli(["run", small_graph, "--input", f"image={tmp_path / 'wrong.npy'}",
                      "--trace", tmp_path / "t.json"])
    assert_cli_error(result, "image")
    assert _listing(tmp_path) == ["wrong.npy"]


def test_python_run_writes_the_same_trace(small_graph, tmp_path):
    pbmem = import_pbmem()
    model = pbmem.load(small_graph, threads=1)
    path = tmp_path / "py_trace.json"
    out = model.run({"image": IMAGE}, trace=path)
    assert "out0" in out
    with open(path) as f:
        trace = json.load(f)
    plan = model.plan(input_shapes={"image": list(IMAGE.shape)})
    steps = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert [e["name"] for e in steps] == [s["name"] for s in _cli_steps(tmp_path, small_graph)]
    assert len(steps) == plan["num_steps"]
    planned = [sum(e["args"].values()) for e in trace["traceEvents"]
               if e["ph"] == "C" and e["name"] == PLANNED_COUNTER]
    assert max(planned) == model.max_bytes_in_use() == plan["predicted_peak_bytes"]
    assert _listing(tmp_path) == ["cli", "py_trace.json"]

    for bad, words in ((tmp_path / "missing" / "t.json", ("trace", "missing")),
                       (tmp_path, ("trace", "directory")), (42, ("trace",))):
        with pytest.raises(pbmem.Error) as excinfo:
            model.run({"image": IMAGE}, trace=bad)
        assert_api_error(excinfo, *words)
    with pytest.raises(pbmem.Error):  # a failed run writes no trace
        model.run({"image": IMAGE[:, :, :, :3]}, trace=tmp_path / "failed.json")
    assert _listing(tmp_path) == ["cli", "py_trace.json"]


def _cli_steps(tmp_path, model):
    directory = tmp_path / "cli"
    directory.mkdir()
    trace, _ = _traced_run(directory, model)
    return [e for e in trace["traceEvents"] if e["ph"] == "X"]


# ---------------------------------------------------------------------------------------------
# report


class _PageScan(html.parser.HTMLParser):
    """Tags, ids and attributes of a page, as a browser would parse them."""

    def __init__(self):
        super().__init__()
        self.tags = []
        self.by_id = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if "id" in attrs:
            self.by_id[attrs["id"]] = attrs


def _report(tmp_path, model, *args):
    out = tmp_path / "report.html"
    assert_ok(run_cli(["report", model, *args, "-o", out]))
    text = out.read_text()
    scan = _PageScan()
    scan.feed(text)
    return text, scan


def _assert_self_contained(text, scan):
    assert "script" not in scan.tags, "the page has a script element"
    for tag in ("link", "img", "iframe", "object", "embed"):
        assert tag not in scan.tags, f"the page loads a <{tag}>"
    assert "url(" not in text and " src=" not in text, "the page references a resource"
    assert text.replace(SVG_NAMESPACE, "").count("http") == 0, "the page links elsewhere"


@pytest.mark.parametrize("batch", [None, 3])
def test_report_matches_the_plan(small_graph, tmp_path, batch):
    args = [] if batch is None else ["--batch", str(batch)]
    text, scan = _report(tmp_path, small_graph, *args)
    plan = _plan(small_graph, "--batch", str(batch or 1))
    _assert_self_contained(text, scan)
    for section in ("memory-plot", "live-at-peak", "weights-by-layer", "peak-marker",
                    "predicted-peak"):
        assert section in scan.by_id, f"no element with id {section!r}"
    peak = scan.by_id["peak-marker"]
    assert int(peak["data-peak-step"]) == plan["peak_step"]
    assert peak["data-peak-node"] == plan["peak_node"]
    assert int(peak["data-live-bytes"]) == plan["lower_bound_bytes"]
    assert int(scan.by_id["predicted-peak"]["data-bytes"]) == plan["predicted_peak_bytes"]
    assert f"[{batch or 1},10,10,4]" in text
    assert "by default" in text if batch is None else "--batch 3" in text
    assert _listing(tmp_path) == ["report.html"]


def test_report_escapes_model_strings(evil_graph, tmp_path):
    text, scan = _report(tmp_path, evil_graph, "--batch", "2")
    plan = _plan(evil_graph, "--batch", "2")
    assert plan["peak_node"].startswith(EVIL)
    _assert_self_contained(text, scan)
    assert "<script" not in text and "</script" not in text, "a node name reached the page raw"
    assert html.escape(EVIL, quote=True).replace("&#x27;", "&#39;") in text
    assert scan.by_id["peak-marker"]["data-peak-node"] == plan["peak_node"]


@pytest.mark.parametrize("value", ["0", "-1", "abc", "", "99999999999999999999", "1.5"])
def test_report_bad_batch(small_graph, tmp_path, value):
    assert_cli_error(run_cli(["report", small_graph, "--batch", value, "-o",
                              tmp_path / "r.html"]), "--batch")
    assert _listing(tmp_path) == []


def test_report_bad_output_paths(small_graph, tmp_path):
    assert_cli_error(run_cli(["report", small_graph, "-o", tmp_path / "missing" / "r.html"]),
                     "--out", "missing")
    assert_cli_error(run_cli(["report", small_graph, "-o", tmp_path]), "--out", "directory")
    assert_cli_error(run_cli(["report", small_graph]), "--out")
    assert _listing(tmp_path) == []


def test_report_failures_leave_no_file(small_graph, tmp_path):
    bad_model = tmp_path / "bad.pb"
    bad_model.write_bytes(b"\xff" * 64)
    out = tmp_path / "r.html"
    assert_cli_error(run_cli(["report", bad_model, "-o", out]), "bad.pb")
    assert_cli_error(run_cli(["report", small_graph, "--input-shape", "nope=1,2", "-o", out]),
                     "nope")
    assert_cli_error(run_cli(["report", small_graph, "--input-shape", "image=2,10,10", "-o", out]),
                     "image")
    assert _listing(tmp_path) == ["bad.pb"]


# ---------------------------------------------------------------------------------------------
# report: the fit table

FIT_LIMITS = [64 << 20, 128 << 20, 256 << 20, 512 << 20, 1 << 30, 2 << 30]
# Limits cross-checked against `pbmem fit` itself (each search costs a few plans).
CHECKED_LIMITS = (64 << 20, 2 << 30)


class _FitRows(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-limit" in attrs:
            self.rows.append((int(attrs["data-limit"]), int(attrs["data-max-batch"])))


def _fit_rows(text):
    scan = _FitRows()
    scan.feed(text)
    return scan.rows


def test_report_fit_table_is_what_fit_says(small_graph, tmp_path):
    text, scan = _report(tmp_path, small_graph, "--batch", "2")
    assert "fit-table" in scan.by_id
    rows = _fit_rows(text)
    assert [limit for limit, _ in rows] == FIT_LIMITS
    batches = [batch for _, batch in rows]
    assert batches == sorted(batches) and batches[0] >= 1, rows
    for limit in CHECKED_LIMITS:
        result = run_cli(["fit", small_graph, "--memory-limit", str(limit), "--json"])
        assert_ok(result)
        assert dict(rows)[limit] == json.loads(result.stdout)["max_batch"], (limit, rows)


@pytest.fixture(scope="module")
def wide_graph():
    """x float32 [?,2048,2048,4] -> relu -> tanh: 64 MiB per tensor at batch 1."""
    tf = tfcheck._tf()
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 2048, 2048, 4], name="x")
        tf.tanh(tf.nn.relu(x), name="y")
    return tfcheck.save_graph_bytes(graph.as_graph_def().SerializeToString(), "report_wide")


def test_report_says_when_batch_1_does_not_fit(wide_graph, tmp_path):
    text, _ = _report(tmp_path, wide_graph)
    plan = _plan(wide_graph, "--batch", "1")
    rows = dict(_fit_rows(text))
    too_small = [limit for limit in FIT_LIMITS if limit < plan["predicted_peak_bytes"]]
    assert too_small and len(too_small) < len(FIT_LIMITS), plan["predicted_peak_bytes"]
    for limit in FIT_LIMITS:
        assert (rows[limit] == 0) == (limit in too_small), (limit, rows)
    # `pbmem fit` says the same: an error naming batch 1's need.
    assert_cli_error(run_cli(["fit", wide_graph, "--memory-limit", str(too_small[0])]),
                     "batch 1", str(plan["predicted_peak_bytes"]))
    assert text.count("does not fit (batch 1 needs") == len(too_small)


def test_report_without_a_batch_dimension(tmp_path):
    data, _, _ = tfcheck.build_tf1_graph(_build, {"image": IMAGE}, dynamic_batch=False)
    model = tfcheck.save_graph_bytes(data, "report_fixed")
    text, scan = _report(tmp_path, model)
    assert "fit-note" in scan.by_id and "fit-table" not in scan.by_id
    assert "no batch dimension" in text
    assert f"[{IMAGE.shape[0]},10,10,4]" in text
    assert_cli_error(run_cli(["report", model, "--batch", "2", "-o", tmp_path / "x.html"]),
                     "--batch")
