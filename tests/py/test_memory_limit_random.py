"""Randomized test of the hard memory limit: 10,000 seeded runs with random batches and limits.

Most runs are on small random graphs (tests/py/randgraph.py) through the Python API in one
process, a few on mobilenet_v2 at small batches. Limits are drawn around the unlimited plan's
predicted peak (sometimes exactly at it, or one byte under), so that runs both fit and are
refused often. Several runs with different batches share each loaded model (one session), so
refusals are followed by further runs on the same session (each session draws its runs from two
batches, so it also retries a refused batch and re-plans between them). For every run:
  - it succeeds exactly when the plan's predicted peak fits the limit;
  - a success holds max_bytes_in_use == the predicted peak <= limit, and its outputs equal the
    unlimited run's bit for bit (same thread count);
  - a refusal is a pbmem.Error naming the memory limit, raised before the run started;
  - the session's lifetime peak_bytes_in_use never exceeds the limit, refused runs included.
PBMEM_LIMIT_RUNS=N changes the number of runs (a longer hunt).
"""
import os
import time

import numpy as np
import pytest

import models
import randgraph
import tfcheck
from cli import assert_cli_error, import_pbmem, run_cli

NUM_RUNS = int(os.environ.get("PBMEM_LIMIT_RUNS", "10000"))
SEED = 20261128
NUM_GRAPHS = 24
BATCHES = range(1, 7)
RUNS_PER_SESSION = 8
# Batches each session draws its runs from: repeats reuse the prepared plan (or the remembered
# refusal), which keeps 10,000 runs fast; switches re-plan on the same session.
BATCHES_PER_SESSION = 2
ZOO_NAME = "mobilenet_v2"
ZOO_RUNS = 12
ZOO_BATCHES = range(1, 4)
THREADS = 1  # bit-identical outputs between the limited and the unlimited run
# How a limit is drawn from a reference peak: exactly at it, one byte under, or scaled.
EXACT_PROB = 0.15
ONE_UNDER_PROB = 0.15
SCALE_RANGE = (0.7, 1.6)
# Both outcomes must be common, or the test is not testing the limit.
MIN_OUTCOME_SHARE = 0.2


@pytest.fixture(scope="module")
def pbmem():
    return import_pbmem()


class Target:
    """A model with its unlimited peaks and outputs per batch."""

    def __init__(self, pbmem, path, feeds_fn, outputs, batches, describe):
        self.path, self.outputs, self.describe = path, outputs, describe
        unlimited = pbmem.load(path, threads=THREADS)
        self.feeds, self.peaks, self.want = {}, {}, {}
        for batch in batches:
            self.feeds[batch] = feeds_fn(batch)
            self.peaks[batch] = unlimited.plan(
                input_shapes={n: v.shape for n, v in self.feeds[batch].items()},
                outputs=outputs)["predicted_peak_bytes"]
            got = unlimited.run(self.feeds[batch], outputs=outputs)
            self.want[batch] = {n: np.array(got[n], copy=True) for n in outputs}


def _draw_limit(gen, target):
    reference = target.peaks[int(gen.choice(list(target.peaks)))]
    draw = gen.random()
    if draw < EXACT_PROB:
        return reference
    if draw < EXACT_PROB + ONE_UNDER_PROB:
        return reference - 1
    return max(1, int(reference * gen.uniform(*SCALE_RANGE)))


def _check_session(pbmem, gen, target, runs, counts):
    limit = _draw_limit(gen, target)
    model = pbmem.load(target.path, threads=THREADS, memory_limit=limit)
    batches = [int(b) for b in gen.choice(list(target.peaks), BATCHES_PER_SESSION, replace=False)]
    for _ in range(runs):
        batch = int(gen.choice(batches))
        peak = target.peaks[batch]
        where = f"{target.describe}, batch {batch}, limit {limit}, predicted peak {peak}"
        try:
            got = model.run(target.feeds[batch], outputs=target.outputs)
        except pbmem.Error as e:
            message = str(e)
            assert peak > limit, f"{where}: refused although the plan fits: {message}"
            assert "memory limit" in message, f"{where}: {message}"
            counts["refused"] += 1
        else:
            assert peak <= limit, f"{where}: ran although the plan exceeds the limit"
            measured = model.max_bytes_in_use()
            assert measured == peak, f"{where}: measured {measured} != predicted {peak}"
            for name in target.outputs:
                assert np.array_equal(got[name], target.want[batch][name], equal_nan=True), \
                    f"{where}: output {name} differs from the unlimited run"
            counts["ran"] += 1
        lifetime = model.stats()["lifetime"]
        assert lifetime["peak_bytes_in_use"] <= limit, f"{where}: lifetime {lifetime}"


def test_random_limits(pbmem):
    start = time.monotonic()
    graphs = []
    for seed in range(NUM_GRAPHS):
        g = randgraph.build(seed)
        graphs.append(Target(pbmem, g.path, g.feeds, g.outputs, BATCHES, g.describe()))
    zoo = models.get_model(ZOO_NAME)
    zoo_target = Target(pbmem, zoo.path, zoo.random_inputs, [zoo.outputs["probs"]], ZOO_BATCHES,
                        ZOO_NAME)
    gen = np.random.default_rng(SEED)
    counts = {"ran": 0, "refused": 0}
    zoo_runs = min(ZOO_RUNS, NUM_RUNS)
    done = 0
    while done < zoo_runs:
        runs = min(RUNS_PER_SESSION, zoo_runs - done)
        _check_session(pbmem, gen, zoo_target, runs, counts)
        done += runs
    while done < NUM_RUNS:
        runs = min(RUNS_PER_SESSION, NUM_RUNS - done)
        _check_session(pbmem, gen, graphs[int(gen.integers(len(graphs)))], runs, counts)
        done += runs
    total = counts["ran"] + counts["refused"]
    assert total == NUM_RUNS
    for outcome, count in counts.items():
        assert count >= MIN_OUTCOME_SHARE * total, f"too few '{outcome}' outcomes: {counts}"
    print(f"\n{NUM_RUNS} limited runs ({counts}) in {time.monotonic() - start:.1f} s")


def test_cli_model_without_batch_dimension():
    data, outputs, _ = tfcheck.build_tf1_graph(
        lambda x: x * 2.0 + 1.0, {"x": np.zeros((3, 5), np.float32)}, dynamic_batch=False)
    path = tfcheck.save_graph_bytes(data, "fixed_shape")
    assert_cli_error(run_cli(["fit", path, "--memory-limit", "1MB"]), "no input", "batch")
    result = run_cli(["plan", path, "--memory-limit", "20"])  # weights 8 B + output 60 B
    assert_cli_error(result, "no batch dimension", "raise the limit")
