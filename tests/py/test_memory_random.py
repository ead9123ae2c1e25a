"""Property test of the memory plan on random graphs (tests/py/randgraph.py).

For each seed a random DAG of supported ops (branches, joins, views, in-place candidates,
several outputs, some of them also read by later ops) is built with TensorFlow and run at two
random batch sizes, with the defaults (in-place reuse and memory-aware scheduling on). Each time:
  - pbmem's outputs match TF's (tfcheck's rule),
  - the plan predicts the run's accounted peak to the byte (plan() then run():
    max_bytes_in_use() == predicted_peak_bytes), with lower_bound <= arena <= naive,
  - a repeated run allocates nothing (num_allocs == 0), holds the same peak and gives the same
    outputs.
In-place or aliasing mistakes show up as wrong values; accounting mistakes as a byte difference.
"""
import os

import numpy as np
import pytest

import randgraph
import tfcheck
from cli import import_pbmem

# PBMEM_RANDOM_GRAPHS=N runs more seeds (a longer hunt); 40 keep the suite fast.
NUM_SEEDS = int(os.environ.get("PBMEM_RANDOM_GRAPHS", "40"))
BATCH_RANGE = (1, 6)  # inclusive
BATCHES_PER_GRAPH = 2


@pytest.fixture(scope="module")
def pbmem():
    return import_pbmem()


def _batches(seed):
    gen = np.random.default_rng([seed, 1])
    return [int(b) for b in gen.choice(np.arange(BATCH_RANGE[0], BATCH_RANGE[1] + 1),
                                       BATCHES_PER_GRAPH, replace=False)]


def _plan_summary(plan):
    keys = ("predicted_peak_bytes", "arena_bytes", "lower_bound_bytes", "naive_bytes",
            "weights_packed_bytes", "scratch_bytes", "io_bytes", "peak_node")
    return {k: plan.get(k) for k in keys}


@pytest.mark.parametrize("seed", range(NUM_SEEDS))
def test_random_graph_plan_is_exact_and_outputs_match_tf(pbmem, seed):
    graph = randgraph.build(seed)
    model = pbmem.load(graph.path)
    for batch in _batches(seed):
        where = f"{graph.describe()}\nbatch {batch}"
        feeds = graph.feeds(batch)
        want = graph.run_tf(feeds)
        shapes = {name: value.shape for name, value in feeds.items()}
        plan = model.plan(input_shapes=shapes, outputs=graph.outputs)
        assert plan["lower_bound_bytes"] <= plan["arena_bytes"] <= plan["naive_bytes"], \
            f"{where}\nplan bounds out of order: {_plan_summary(plan)}"
        predicted = plan["predicted_peak_bytes"]
        first = None
        for repeat in range(2):
            got = model.run(feeds, outputs=graph.outputs)
            for name, expected in zip(graph.outputs, want):
                tfcheck.assert_matches(got[name], expected, name=f"{where}, run {repeat}: {name}")
            measured = model.max_bytes_in_use()
            assert measured == predicted, (
                f"{where}, run {repeat}: measured peak {measured} != predicted {predicted} "
                f"(diff {measured - predicted:+d}); stats {model.stats()}; "
                f"plan {_plan_summary(plan)}")
            if repeat == 0:
                first = {name: np.array(got[name], copy=True) for name in graph.outputs}
            else:
                stats = model.stats()
                assert stats["num_allocs"] == 0, f"{where}: a repeated run allocated: {stats}"
                for name in graph.outputs:
                    assert np.array_equal(got[name], first[name], equal_nan=True), \
                        f"{where}: output {name} changed between identical runs"
