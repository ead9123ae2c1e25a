"""Whole-model conformance: frozen Keras applications and a TF1 graph, pbmem vs TensorFlow.

Each case runs the cached frozen .pb (tests/py/models.py) in TF (the oracle, via import_graph_def)
and in pbmem on the same seeded inputs, and checks tfcheck's match rule on the logits, the
probabilities and the feature map entering the final pooling. Per-case errors and timings are
printed (pytest -s) and collected in <cache>/model_errors.json. When a case fails, the message
names the first node (in topological order) whose output diverges from TF while its inputs agree.
"""
import fcntl
import json
import os
import re
import subprocess
import time

import numpy as np
import pytest

import models
import tfcheck
from cli import assert_ok, import_pbmem, pbmem_binary, run_cli

BATCHES = (1, 4)
ROLES = ("features", "logits", "probs")
# The outputs (logits, probs) must meet tfcheck's rule. The deep feature map gets 10x more room:
# TF disagrees with itself there by ~1e-4 relative (ResNet50, batch 1: 1.02e-4 between grappler
# on and off, from fused vs unfused conv/BN arithmetic), so 1e-4 would flag float32 rounding.
# A real kernel bug shows up as O(1) errors, far above either bound.
ROLE_TOL = {"features": 10 * tfcheck.TOL, "logits": tfcheck.TOL, "probs": tfcheck.TOL}
ERRORS_FILE = os.path.join(tfcheck.CACHE_DIR, "model_errors.json")
INSPECT_RSS_LIMIT_MB = 30.0
GNU_TIME = "/usr/bin/time"
KB_PER_MB = 1024.0
# Intermediate tensors are fetched from pbmem this many at a time when diagnosing a failure.
DIAGNOSE_CHUNK = 100
# Ops whose outputs are not worth comparing when looking for the diverging node.
NOT_COMPARED_OPS = {"NoOp", "Placeholder", "PlaceholderWithDefault"}


def _record(key: str, entry: dict) -> None:
    """Merges one entry into model_errors.json (locked: parallel runs may write too)."""
    os.makedirs(tfcheck.CACHE_DIR, exist_ok=True)
    with open(ERRORS_FILE + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = {}
        if os.path.exists(ERRORS_FILE):
            with open(ERRORS_FILE) as f:
                try:
                    data = json.load(f)
                except json.JSONDecodeError:
                    data = {}
        data[key] = entry
        tmp = ERRORS_FILE + f".tmp{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, ERRORS_FILE)


def _error_and_scale(got, want):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape or want.size == 0:
        return float("inf") if got.shape != want.shape else 0.0, 1.0
    finite = np.isfinite(want)
    if not np.array_equal(np.isfinite(got), finite):
        return float("inf"), 1.0
    if not finite.any():
        return 0.0, 1.0
    err = float(np.max(np.abs(got[finite] - want[finite])))
    return err, max(1.0, float(np.max(np.abs(want[finite]))))


# ---------------------------------------------------------------------------------------------
# Diagnosis: the first diverging node.

def _load_graph_def(path):
    tf = tfcheck._tf()
    graph_def = tf.compat.v1.GraphDef()
    with open(path, "rb") as f:
        graph_def.ParseFromString(f.read())
    return graph_def


def _topological(graph_def):
    by_name = {n.name: n for n in graph_def.node}
    order, state = [], {}
    for root in graph_def.node:
        stack = [(root.name, False)]
        while stack:
            name, done = stack.pop()
            if done:
                state[name] = 2
                order.append(by_name[name])
                continue
            if state.get(name):
                continue
            state[name] = 1
            stack.append((name, True))
            for inp in by_name[name].input:
                dep = inp.lstrip("^").split(":")[0]
                if dep in by_name and not state.get(dep):
                    stack.append((dep, False))
    return order


def _first_divergence(model_info, feeds, pbmem_model) -> str:
    """Compares every node's first output; names the earliest diverging node whose inputs match."""
    graph_def = _load_graph_def(model_info.path)
    order = [n for n in _topological(graph_def) if n.op not in NOT_COMPARED_OPS]
    names = [n.name for n in order]
    try:
        want = dict(zip(names, models.run_tf(model_info, feeds, names)))
    except Exception as e:  # some node outputs cannot be fetched in TF: give up politely
        return f"(diagnosis failed: TF could not fetch intermediates: {e})"
    got, fetch_errors = {}, []
    for start in range(0, len(names), DIAGNOSE_CHUNK):
        chunk = names[start:start + DIAGNOSE_CHUNK]
        try:
            got.update(pbmem_model.run(feeds, outputs=chunk))
        except Exception:
            for name in chunk:  # find the individual names pbmem refuses
                try:
                    got.update(pbmem_model.run(feeds, outputs=[name]))
                except Exception as e:
                    fetch_errors.append(f"{name}: {e}")
    bad = set()
    first = None
    for node in order:
        if node.name not in got:
            continue
        w, g = np.asarray(want[node.name]), np.asarray(got[node.name])
        if w.dtype.kind in "fc":
            err, scale = _error_and_scale(g, w)
            diverges = err > tfcheck.TOL * scale
        else:
            err, scale = (0.0 if np.array_equal(g, w) else float("inf")), 1.0
            diverges = err != 0.0
        if not diverges:
            continue
        bad.add(node.name)
        inputs = [i.split(":")[0] for i in node.input if not i.startswith("^")]
        if first is None and not any(i in bad for i in inputs):
            first = (f"first diverging node: '{node.name}' ({node.op}), inputs {list(node.input)}, "
                     f"max err {err:.3g} vs allowed {tfcheck.TOL * scale:.3g}, pbmem shape "
                     f"{g.shape} {g.dtype}, TF shape {w.shape} {w.dtype}")
    summary = first or "no single intermediate node diverges"
    summary += f"; {len(bad)} of {len(got)} compared nodes diverge"
    if fetch_errors:
        summary += f"; pbmem could not fetch {len(fetch_errors)} tensors, e.g. {fetch_errors[:3]}"
    return summary


# ---------------------------------------------------------------------------------------------
# Conformance.

@pytest.mark.parametrize("batch", BATCHES, ids=lambda b: f"batch{b}")
@pytest.mark.parametrize("name", models.ALL_MODELS)
def test_model_matches_tf(name, batch):
    pbmem = import_pbmem()
    info = models.get_model(name)
    feeds = info.random_inputs(batch)
    tensor_names = [info.outputs[role] for role in ROLES]

    start = time.monotonic()
    want = models.run_tf(info, feeds, tensor_names)
    tf_seconds = time.monotonic() - start

    start = time.monotonic()
    model = pbmem.load(info.path)
    load_seconds = time.monotonic() - start
    start = time.monotonic()
    got = model.run(feeds, outputs=tensor_names)
    run_seconds = time.monotonic() - start

    errors, failures = {}, []
    for role, tensor, w in zip(ROLES, tensor_names, want):
        assert tensor in got, f"pbmem returned {sorted(got)} without {tensor}"
        g = np.asarray(got[tensor])
        assert g.shape == w.shape and g.dtype == w.dtype, \
            f"{name} {role} '{tensor}': pbmem {g.shape} {g.dtype}, TF {w.shape} {w.dtype}"
        err, scale = _error_and_scale(g, w)
        tol = ROLE_TOL[role]
        errors[role] = {"max_abs_err": err, "scale": scale, "tol": tol,
                        "rel_err": err / scale}
        if err > tol * scale:
            failures.append(f"{role} '{tensor}': max|pbmem-TF| = {err:.3g} > {tol:g}*{scale:.3g}")
    entry = {"errors": errors, "tf_seconds": round(tf_seconds, 3),
             "pbmem_load_seconds": round(load_seconds, 3),
             "pbmem_run_seconds": round(run_seconds, 3), "passed": not failures}
    print(f"\n[{name} batch {batch}] " + ", ".join(
        f"{role} err {e['max_abs_err']:.3g} (scale {e['scale']:.3g})" for role, e in errors.items()) +
        f"; TF {tf_seconds:.2f}s, pbmem load {load_seconds:.2f}s run {run_seconds:.2f}s")
    if failures:
        entry["diagnosis"] = _first_divergence(info, feeds, model)
        print(f"  diagnosis: {entry['diagnosis']}")
    _record(f"{name}@batch{batch}", entry)
    assert not failures, f"{name} batch {batch}: " + "; ".join(failures) + \
        f"\n{entry.get('diagnosis', '')}"


def test_tf1_placeholder_with_default_can_be_fed():
    pbmem = import_pbmem()
    info = models.get_model(models.TF1_MODEL)
    feeds = info.random_inputs(2)
    feeds["temperature"] = np.array(1.7, dtype=np.float32)
    want = models.run_tf(info, feeds, ["logits", "probs"])
    got = pbmem.load(info.path).run(feeds, outputs=["logits", "probs"])
    tfcheck.assert_matches(got["logits"], want[0], name="logits")
    tfcheck.assert_matches(got["probs"], want[1], name="probs")


def test_default_outputs_are_the_graph_sinks():
    pbmem = import_pbmem()
    info = models.get_model(models.TF1_MODEL)
    model = pbmem.load(info.path)
    assert [spec.name for spec in model.outputs] == ["probs"]
    assert sorted(spec.name for spec in model.inputs) == ["features", "image", "temperature"]
    feeds = info.random_inputs(3)
    got = model.run(feeds)
    assert sorted(got) == ["probs"]
    tfcheck.assert_matches(got["probs"], models.run_tf(info, feeds, ["probs"])[0], name="probs")

    keras_info = models.get_model("mobilenet_v2")
    keras_model = pbmem.load(keras_info.path)
    assert sorted(spec.name for spec in keras_model.outputs) == \
        sorted([keras_info.outputs["logits"], keras_info.outputs["probs"]])
    (input_spec,) = keras_model.inputs
    assert input_spec.name == "images"
    assert tuple(input_spec.shape) == (None, 224, 224, 3)
    assert input_spec.dtype == np.float32


# ---------------------------------------------------------------------------------------------
# The CLI on whole models.

def _npy_name(tensor_name: str) -> str:
    return re.sub(r"[/:]", "_", tensor_name) + ".npy"


@pytest.mark.parametrize("name", [models.TF1_MODEL, "mobilenet_v2"])
def test_cli_run_matches_tf(name, tmp_path):
    info = models.get_model(name)
    feeds = info.random_inputs(2)
    args = ["run", info.path, "--threads", "2", "--output-dir", tmp_path / "out"]
    for input_name, value in feeds.items():
        np.save(tmp_path / f"{input_name}.npy", value)
        args += ["--input", f"{input_name}={tmp_path / f'{input_name}.npy'}"]
    wanted = [info.outputs["logits"], info.outputs["probs"]]
    for tensor in wanted:
        args += ["--output", tensor]
    result = run_cli(args)
    assert_ok(result)
    for tensor, want in zip(wanted, models.run_tf(info, feeds, wanted)):
        path = tmp_path / "out" / _npy_name(tensor)
        assert path.exists(), f"no {path}; wrote {sorted(os.listdir(tmp_path / 'out'))}"
        tfcheck.assert_matches(np.load(path), want, name=tensor)


@pytest.mark.parametrize("name", models.ALL_MODELS)
def test_cli_inspect_json(name):
    info = models.get_model(name)
    result = run_cli(["inspect", info.path, "--json"])
    assert_ok(result)
    summary = json.loads(result.stdout)
    histogram = summary["op_histogram"]
    if isinstance(histogram, list):
        histogram = {item["op"]: item["count"] for item in histogram}
    assert histogram == info.op_types
    assert summary["num_nodes"] == sum(info.op_types.values())
    assert summary["file_bytes"] == info.file_bytes
    assert not summary["unsupported"], f"{name} has unsupported ops: {summary['unsupported']}"
    assert sorted(i["name"] for i in summary["inputs"]) == sorted(info.inputs)


def test_inspect_resnet50_peak_rss_under_30mb():
    if not os.access(GNU_TIME, os.X_OK):
        pytest.fail(f"{GNU_TIME} is missing: apt-get install -y time", pytrace=False)
    info = models.get_model("resnet50")
    cmd = [GNU_TIME, "-v", pbmem_binary(), "inspect", info.path]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{cmd} failed: {result.stderr[-2000:]}"
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)
    assert match, f"no maximum RSS in /usr/bin/time output: {result.stderr[-2000:]}"
    rss_mb = int(match.group(1)) / KB_PER_MB
    print(f"\n[inspect resnet50] peak RSS {rss_mb:.1f} MB for a {info.file_bytes / 1e6:.1f} MB file")
    _record("inspect_resnet50_peak_rss", {"peak_rss_mb": round(rss_mb, 2),
                                          "file_mb": round(info.file_bytes / 1e6, 1),
                                          "limit_mb": INSPECT_RSS_LIMIT_MB})
    assert rss_mb < INSPECT_RSS_LIMIT_MB, \
        f"pbmem inspect on ResNet50 peaked at {rss_mb:.1f} MB RSS (limit {INSPECT_RSS_LIMIT_MB} MB)"
