"""Issue 4's claim on the model zoo: the memory plan predicts a run's accounted peak exactly.

For MobileNetV2, ResNet50, InceptionV3, EfficientNetB0 and DenseNet121 (tests/py/models.py) at
batch 1, 2, 7, 16 and 64:
  - model.plan(batch=N)["predicted_peak_bytes"] == max_bytes_in_use() after a run at batch N,
    to the byte; each category's run peak is the planned figure (nothing "other");
  - a second run allocates nothing (num_allocs == 0) and holds the same peak;
  - lower_bound <= arena <= naive; arena / lower bound is recorded per model and batch in
    <cache>/memory_plan.json (the goal is <= 1.02), with the plan and run times.
The CLI's `pbmem plan --json` and `pbmem run --stats-json` are checked against the Python
numbers on two cases. Inputs are random (no TF comparison: test_models.py does that).
"""
import fcntl
import gc
import json
import os
import tempfile
import time

import numpy as np
import pytest

import models
import tfcheck
from cli import assert_ok, import_pbmem, run_cli

MODELS = ("mobilenet_v2", "resnet50", "inception_v3", "efficientnet_b0", "densenet121")
BATCHES = (1, 2, 7, 16, 64)
CASES = [(name, batch) for name in MODELS for batch in BATCHES]
PLAN_FILE = os.path.join(tfcheck.CACHE_DIR, "memory_plan.json")
# Cases whose plan is also computed by the CLI (`pbmem plan --json`) and run by it.
CLI_CASES = {("mobilenet_v2", 7), ("resnet50", 16)}
# Every plan field the CLI's JSON and Python's dict share.
SHARED_PLAN_FIELDS = ("predicted_peak_bytes", "arena_bytes", "lower_bound_bytes", "naive_bytes",
                      "weights_bytes", "weights_packed_bytes", "weights_mapped_bytes",
                      "scratch_bytes", "io_bytes", "peak_step", "peak_node")
ARENA_GOAL_RATIO = 1.02
CATEGORIES = ("weights_packed", "activations", "scratch", "io", "other")

# One loaded model at a time: a batch-64 session holds GBs, so the previous model is dropped
# before the next one loads.
_current = {}


@pytest.fixture(scope="module")
def pbmem():
    return import_pbmem()


def _loaded(pbmem, name, weights="packed"):
    if _current.get("name") != name or _current.get("weights") != weights:
        _current.clear()
        gc.collect()
        info = models.get_model(name)
        _current.update(name=name, weights=weights, info=info,
                        model=pbmem.load(info.path, weights=weights))
    return _current["info"], _current["model"]


def _random_feeds(info, batch):
    """Uniform random inputs in the model's range (cheaper than synthetic images at batch 64)."""
    gen = np.random.default_rng(batch)
    feeds = {}
    for name, shape in info.inputs.items():
        lo, hi = info.input_ranges[name]
        dims = [batch if d is None else d for d in shape]
        feeds[name] = gen.uniform(lo, hi, size=dims).astype(np.float32)
    return feeds


def _record(name, batch, entry):
    """Merges one case into memory_plan.json (locked: parallel runs may write too)."""
    os.makedirs(tfcheck.CACHE_DIR, exist_ok=True)
    with open(PLAN_FILE + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = {}
        if os.path.exists(PLAN_FILE):
            with open(PLAN_FILE) as f:
                try:
                    data = json.load(f)
                except json.JSONDecodeError:
                    data = {}
        data.setdefault(name, {})[str(batch)] = entry
        tmp = PLAN_FILE + f".tmp{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, PLAN_FILE)


def _check_plan_consistency(where, plan):
    assert plan["lower_bound_bytes"] <= plan["arena_bytes"] <= plan["naive_bytes"], \
        f"{where}: bounds out of order: lower {plan['lower_bound_bytes']}, arena " \
        f"{plan['arena_bytes']}, naive {plan['naive_bytes']}"
    parts = (plan["weights_packed_bytes"] + plan["arena_bytes"] + plan["scratch_bytes"] +
             plan["io_bytes"])
    assert plan["predicted_peak_bytes"] == parts, \
        f"{where}: predicted {plan['predicted_peak_bytes']} != packed + arena + scratch + io " \
        f"= {parts}"


def _category_diff(stats, plan):
    """Run peak per category vs the plan's figure; empty when they agree."""
    expected = {"weights_packed": plan["weights_packed_bytes"], "activations": plan["arena_bytes"],
                "scratch": plan["scratch_bytes"], "io": plan["io_bytes"], "other": 0}
    got = stats["by_category"]
    return {c: (got.get(c), expected[c]) for c in CATEGORIES if got.get(c) != expected[c]}


def _plan_and_run_twice(model, info, batch, where):
    """Plans, runs twice and checks each run's peak (in total and per category) against the
    plan. Returns (plan, plan seconds, measured peaks, run seconds, feeds)."""
    feeds = _random_feeds(info, batch)
    start = time.monotonic()
    plan = model.plan(batch=batch)
    plan_seconds = time.monotonic() - start
    _check_plan_consistency(where, plan)
    predicted = plan["predicted_peak_bytes"]

    run_seconds = []
    measured = []
    for repeat in range(2):
        start = time.monotonic()
        model.run(feeds)
        run_seconds.append(time.monotonic() - start)
        measured.append(model.max_bytes_in_use())
        stats = model.stats()
        assert stats["predicted_peak_bytes"] == predicted, f"{where}: stats {stats}"
        assert stats["weights_mapped_bytes"] == plan["weights_mapped_bytes"], f"{where}: {stats}"
        assert stats["max_bytes_in_use"] == measured[-1], f"{where}: {stats}"
        assert measured[-1] == predicted, (
            f"{where}, run {repeat}: measured peak {measured[-1]} != predicted {predicted} "
            f"(diff {measured[-1] - predicted:+d}); per category (measured, planned): "
            f"{_category_diff(stats, plan)}")
        differ = _category_diff(stats, plan)
        assert not differ, f"{where}, run {repeat}: category peaks (measured, planned): {differ}"
        if repeat == 1:
            assert stats["num_allocs"] == 0, f"{where}: the second run allocated: {stats}"
    return plan, plan_seconds, measured, run_seconds, feeds


@pytest.mark.parametrize("name,batch", CASES, ids=[f"{n}-b{b}" for n, b in CASES])
def test_plan_predicts_the_run_exactly(pbmem, name, batch):
    info, model = _loaded(pbmem, name)
    where = f"{name} batch {batch}"
    plan, plan_seconds, measured, run_seconds, feeds = _plan_and_run_twice(model, info, batch, where)
    predicted = plan["predicted_peak_bytes"]
    ratio = plan["arena_bytes"] / plan["lower_bound_bytes"] if plan["lower_bound_bytes"] else 1.0
    entry = {
        "predicted_peak_bytes": predicted, "measured_peak_bytes": measured[0],
        "lower_bound_bytes": plan["lower_bound_bytes"], "arena_bytes": plan["arena_bytes"],
        "naive_bytes": plan["naive_bytes"], "arena_over_lower_bound": round(ratio, 5),
        "weights_packed_bytes": plan["weights_packed_bytes"],
        "weights_mapped_bytes": plan["weights_mapped_bytes"],
        "scratch_bytes": plan["scratch_bytes"], "io_bytes": plan["io_bytes"],
        "peak_node": plan["peak_node"], "plan_seconds": round(plan_seconds, 3),
        "run_seconds": [round(t, 3) for t in run_seconds]}
    _record(name, batch, entry)
    print(f"\n{where}: predicted {predicted} measured {measured[0]} lower bound "
          f"{plan['lower_bound_bytes']} arena {plan['arena_bytes']} (x{ratio:.4f}) naive "
          f"{plan['naive_bytes']}; plan {plan_seconds:.2f}s, runs "
          f"{', '.join(f'{t:.2f}s' for t in run_seconds)}")

    if (name, batch) in CLI_CASES:
        _check_cli_agrees(info, batch, plan, feeds)


MAPPED_CASES = [(name, batch) for name in MODELS for batch in (1, 7)]


@pytest.mark.parametrize("name,batch", MAPPED_CASES, ids=[f"{n}-b{b}" for n, b in MAPPED_CASES])
def test_plan_predicts_the_run_exactly_with_mapped_weights(pbmem, name, batch):
    """The same exactness with weights="mapped": weights read in place from the file are not
    allocations (weights_mapped_bytes, outside the peak), the rest is packed and counted."""
    info, model = _loaded(pbmem, name, weights="mapped")
    where = f"{name} batch {batch} (mapped weights)"
    plan = _plan_and_run_twice(model, info, batch, where)[0]
    assert plan["weights_mapped_bytes"] > 0 and plan["weights_mapped_layers"] > 0, f"{where}: {plan}"


def _check_cli_agrees(info, batch, plan, feeds):
    """`pbmem plan --json` gives Python's plan; `pbmem run --stats-json` measures its peak."""
    where = f"{info.name} batch {batch} (CLI)"
    result = run_cli(["plan", info.path, "--batch", batch, "--json"])
    assert_ok(result)
    cli_plan = json.loads(result.stdout)
    differ = {k: (cli_plan.get(k), plan[k]) for k in SHARED_PLAN_FIELDS
              if cli_plan.get(k) != plan[k]}
    assert not differ, f"{where}: CLI plan differs from Python's (CLI, Python): {differ}"
    with tempfile.TemporaryDirectory() as tmp:
        args = ["run", info.path]
        for name, value in feeds.items():
            path = os.path.join(tmp, f"{name}.npy")
            np.save(path, value)
            args += ["--input", f"{name}={path}"]
        stats_path = os.path.join(tmp, "stats.json")
        result = run_cli(args + ["--stats-json", stats_path])
        assert_ok(result)
        with open(stats_path) as f:
            stats = json.load(f)
    assert stats["max_bytes_in_use"] == plan["predicted_peak_bytes"], \
        f"{where}: run --stats-json max_bytes_in_use {stats['max_bytes_in_use']} != predicted " \
        f"{plan['predicted_peak_bytes']}: {stats}"
    assert stats["predicted_peak_bytes"] == plan["predicted_peak_bytes"], f"{where}: {stats}"


def test_arena_within_goal_of_lower_bound():
    """Reads what the cases above recorded: the planner's arena is within 2% of the bound."""
    if not os.path.exists(PLAN_FILE):
        pytest.fail(f"{PLAN_FILE} missing: run test_plan_predicts_the_run_exactly first",
                    pytrace=False)
    with open(PLAN_FILE) as f:
        data = json.load(f)
    over = {f"{name} b{batch}": entry["arena_over_lower_bound"]
            for name, per_batch in data.items() for batch, entry in per_batch.items()
            if entry["arena_over_lower_bound"] > ARENA_GOAL_RATIO}
    assert not over, f"arena / lower bound above {ARENA_GOAL_RATIO}: {over}"


def test_replanning_frees_the_previous_plan(pbmem):
    """Planning batch 1, then 16, then 1 again predicts (and holds) the first figure: nothing
    from the batch-16 plan (arena, packed weights, scratch) stays allocated."""
    info = models.get_model("mobilenet_v2")
    model = pbmem.load(info.path)
    first = model.plan(batch=1)["predicted_peak_bytes"]
    model.plan(batch=16)
    again = model.plan(batch=1)
    assert again["predicted_peak_bytes"] == first, \
        f"re-planning batch 1 after 16 predicts {again['predicted_peak_bytes']}, first time {first}"
    model.run(_random_feeds(info, 1))
    assert model.max_bytes_in_use() == first
    assert model.stats()["lifetime"]["bytes_in_use"] == first, model.stats()


def test_run_without_plan_then_plan_agrees(pbmem):
    """run() prepares by itself; plan() for the same shapes afterwards reports what it held."""
    info = models.get_model("efficientnet_b0")
    model = pbmem.load(info.path)
    model.run(_random_feeds(info, 2))
    measured = model.max_bytes_in_use()
    assert model.plan(batch=2)["predicted_peak_bytes"] == measured
