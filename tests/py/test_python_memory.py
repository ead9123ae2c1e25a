"""The "Memory" section of docs/PYTHON_API.md: load(memory_limit=), Model.plan() (the keys of
`pbmem plan --json`), stats(), max_bytes_in_use(), bytes_in_use(), bytes_limit(): a plan()
followed by run() with the same shapes holds exactly the predicted peak and allocates nothing
while running; outputs stay valid after the next run; misuse raises pbmem.Error."""
import json
import threading

import numpy as np
import pytest

import tfcheck
from cli import assert_api_error, assert_ok, import_pbmem, run_cli

PLAN_KEYS = {"predicted_peak_bytes", "arena_bytes", "lower_bound_bytes", "naive_bytes",
             "weights_bytes", "weights_packed_bytes", "weights_mapped_bytes", "scratch_bytes",
             "io_bytes", "peak_step", "peak_node", "default_order_lower_bound_bytes",
             "num_steps", "input_shapes", "live_at_peak"}
STATS_KEYS = {"max_bytes_in_use", "bytes_in_use", "bytes_limit", "num_allocs",
              "largest_alloc_size", "predicted_peak_bytes", "weights_mapped_bytes", "by_category",
              "lifetime"}
LIFETIME_KEYS = {"num_allocs", "bytes_in_use", "peak_bytes_in_use", "largest_alloc_size",
                 "bytes_limit"}
IMAGE = np.random.default_rng(6).uniform(-1, 1, (3, 10, 10, 4)).astype(np.float32)
THREADS = 1


@pytest.fixture(scope="module")
def pbmem():
    return import_pbmem()


@pytest.fixture(scope="module")
def small_graph():
    """image float32 [?,10,10,4] -> conv -> relu -> avg pool -> mean -> matmul -> softmax
    ("out0") and the pooled map ("out1"). Returns (path, TF's outputs for IMAGE)."""
    tf = tfcheck._tf()
    gen = np.random.default_rng(7)
    kernel = gen.normal(0, 0.3, (3, 3, 4, 6)).astype(np.float32)
    dense = gen.normal(0, 0.3, (6, 5)).astype(np.float32)

    def build(image):
        y = tf.nn.relu(tf.nn.conv2d(image, tf.constant(kernel), strides=1, padding="SAME"))
        pooled = tf.nn.avg_pool2d(y, 2, 2, "VALID")
        logits = tf.matmul(tf.reduce_mean(pooled, axis=[1, 2]), tf.constant(dense))
        return [tf.nn.softmax(logits), pooled]

    data, names, want = tfcheck.build_tf1_graph(build, {"image": IMAGE}, dynamic_batch=True)
    assert names == ["out0:0", "out1:0"]
    return tfcheck.save_graph_bytes(data, "python_memory_small"), want


@pytest.fixture(scope="module")
def example_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("example") / "example.pb"
    assert_ok(run_cli(["example", path]))
    return str(path)


def _check_plan(plan):
    assert PLAN_KEYS <= set(plan), f"plan() lacks {PLAN_KEYS - set(plan)}"
    parts = (plan["weights_packed_bytes"] + plan["arena_bytes"] + plan["scratch_bytes"] +
             plan["io_bytes"])
    assert plan["predicted_peak_bytes"] == parts, plan
    assert plan["weights_bytes"] == plan["weights_packed_bytes"] + plan["weights_mapped_bytes"]
    assert 0 < plan["lower_bound_bytes"] <= plan["arena_bytes"] <= plan["naive_bytes"], plan
    assert 0 <= plan["peak_step"] < plan["num_steps"] and plan["peak_node"], plan
    for tensor in plan["live_at_peak"]:
        assert set(tensor) == {"name", "op", "bytes", "first_step", "last_step"}, tensor
        assert tensor["first_step"] <= plan["peak_step"] <= tensor["last_step"], tensor


def _check_stats(stats, plan):
    assert set(stats) == STATS_KEYS, sorted(stats)
    assert stats["max_bytes_in_use"] == stats["predicted_peak_bytes"] == \
        plan["predicted_peak_bytes"], (stats, plan)
    assert stats["num_allocs"] == 0, f"the run allocated: {stats}"
    assert stats["weights_mapped_bytes"] == plan["weights_mapped_bytes"]
    assert stats["by_category"] == {
        "weights_packed": plan["weights_packed_bytes"], "activations": plan["arena_bytes"],
        "scratch": plan["scratch_bytes"], "io": plan["io_bytes"], "other": 0}, (stats, plan)
    assert set(stats["lifetime"]) == LIFETIME_KEYS
    assert stats["lifetime"]["peak_bytes_in_use"] >= stats["max_bytes_in_use"]


def test_plan_then_run_holds_the_predicted_peak(pbmem, small_graph):
    path, want = small_graph
    model = pbmem.load(path, threads=THREADS)
    plan = model.plan(batch=IMAGE.shape[0])
    _check_plan(plan)
    assert plan["input_shapes"] == {"image": IMAGE.shape}
    for repeat in range(2):
        out = model.run({"image": IMAGE})
        tfcheck.assert_matches(out["out0"], want[0], f"run {repeat}: out0")
        tfcheck.assert_matches(out["out1"], want[1], f"run {repeat}: out1")
        assert model.max_bytes_in_use() == plan["predicted_peak_bytes"], model.stats()
        _check_stats(model.stats(), plan)
        assert model.bytes_in_use() == model.stats()["bytes_in_use"] <= model.max_bytes_in_use()
        assert model.bytes_limit() == model.stats()["bytes_limit"] > 0


def test_run_without_plan_then_plan_agrees(pbmem, example_model):
    model = pbmem.load(example_model, threads=THREADS)
    image = np.random.default_rng(2).uniform(0, 1, (1, 224, 224, 3)).astype(np.float32)
    model.run({"input": image})
    measured = model.max_bytes_in_use()
    plan = model.plan(input_shapes={"input:0": (1, 224, 224, 3)})
    _check_plan(plan)
    assert plan["predicted_peak_bytes"] == measured
    _check_stats(model.stats(), plan)


def test_plan_matches_the_cli(pbmem, small_graph):
    path = small_graph[0]
    # The same options on both sides, threads included: oneDNN's scratch size depends on the
    # thread count (and on the ISA), so a CLI left at all cores may plan other bytes.
    result = run_cli(["plan", path, "--batch", "2", "--json", "--output", "out0:0", "--threads",
                      str(THREADS)])
    assert_ok(result)
    cli_plan = json.loads(result.stdout)
    plan = pbmem.load(path, threads=THREADS).plan(batch=2, outputs=["out0:0"])
    assert set(cli_plan) <= set(plan), set(cli_plan) - set(plan)
    plan["input_shapes"] = {k: list(v) for k, v in plan["input_shapes"].items()}
    differ = {k: (cli_plan[k], plan[k]) for k in cli_plan if cli_plan[k] != plan[k]}
    assert not differ, f"CLI and Python plans differ (CLI, Python): {differ}"
    assert "step 0 |" in plan["ascii_plan"]


def test_batch_scales_and_input_shapes_override(pbmem, small_graph):
    model = pbmem.load(small_graph[0], threads=THREADS)
    one = model.plan(batch=1)
    two = model.plan(batch=2)
    assert two["arena_bytes"] > one["arena_bytes"], (one, two)
    assert two["io_bytes"] == 2 * one["io_bytes"]
    assert model.plan(batch=2, input_shapes={"image": (4, 10, 10, 4)})["input_shapes"] == \
        {"image": (4, 10, 10, 4)}
    # A plan for batch 1 again predicts what it did the first time (nothing of batch 2 stays).
    again = model.plan(batch=1)
    assert again["predicted_peak_bytes"] == one["predicted_peak_bytes"]
    assert model.stats()["lifetime"]["bytes_in_use"] == one["predicted_peak_bytes"]


def test_stats_follow_the_last_session(pbmem, small_graph):
    model = pbmem.load(small_graph[0], threads=THREADS)
    both = model.plan(batch=3)
    only_out0 = model.plan(batch=3, outputs=["out0"])
    assert only_out0["io_bytes"] < both["io_bytes"]
    model.run({"image": IMAGE}, outputs=["out0"])
    assert model.max_bytes_in_use() == only_out0["predicted_peak_bytes"]
    model.run({"image": IMAGE})
    assert model.max_bytes_in_use() == both["predicted_peak_bytes"]
    model.plan(batch=3, outputs=["out0"])
    assert model.stats()["predicted_peak_bytes"] == only_out0["predicted_peak_bytes"]


def test_memory_limit(pbmem, small_graph):
    path = small_graph[0]
    needed = pbmem.load(path, threads=THREADS).plan(batch=3)["predicted_peak_bytes"]
    model = pbmem.load(path, threads=THREADS, memory_limit=needed)
    assert model.memory_limit == needed
    model.run({"image": IMAGE})
    assert model.bytes_limit() == model.stats()["bytes_limit"] == needed
    assert model.max_bytes_in_use() == needed
    tight = pbmem.load(path, threads=THREADS, memory_limit=needed // 2)
    with pytest.raises(pbmem.Error) as excinfo:
        tight.plan(batch=3)
    assert_api_error(excinfo, "limit")


def test_outputs_survive_the_next_run(pbmem, small_graph):
    """The runtime reuses its output buffers; run() returns copies."""
    model = pbmem.load(small_graph[0], threads=THREADS)
    first = model.run({"image": IMAGE})
    kept = {name: value.copy() for name, value in first.items()}
    model.run({"image": -IMAGE})
    for name, value in first.items():
        assert np.array_equal(value, kept[name]), f"{name} changed after the next run"


def test_concurrent_runs_keep_their_own_outputs(pbmem, small_graph):
    model = pbmem.load(small_graph[0], threads=THREADS)
    feeds = [IMAGE * scale for scale in (1.0, -0.5, 2.0)]
    want = [model.run({"image": f})["out1"].copy() for f in feeds]
    errors = []

    def worker(index):
        try:
            for _ in range(20):
                got = model.run({"image": feeds[index]})["out1"]
                if not np.array_equal(got, want[index]):
                    errors.append(f"thread {index} got another run's output")
                    return
                model.max_bytes_in_use()
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(feeds))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_errors(pbmem, small_graph):
    path = small_graph[0]
    model = pbmem.load(path, threads=THREADS)
    for call in (model.stats, model.max_bytes_in_use, model.bytes_in_use, model.bytes_limit):
        with pytest.raises(pbmem.Error) as excinfo:
            call()
        assert_api_error(excinfo, "no run() or plan() yet")
    for bad in (0, -1):
        with pytest.raises(pbmem.Error) as excinfo:
            model.plan(batch=bad)
        assert_api_error(excinfo, "batch", ">= 1")
    for bad in (True, 2.0, "2"):
        with pytest.raises(pbmem.Error) as excinfo:
            model.plan(batch=bad)
        assert_api_error(excinfo, "batch", "int")
    with pytest.raises(pbmem.Error) as excinfo:
        model.plan()
    assert_api_error(excinfo, "'image'", "[?,10,10,4]")
    with pytest.raises(pbmem.Error) as excinfo:
        model.plan(input_shapes={"nope": (1, 2)})
    assert_api_error(excinfo, "nope", "image")
    with pytest.raises(pbmem.Error) as excinfo:
        model.plan(input_shapes={"image": (1, 10, 10, 5)})
    assert_api_error(excinfo, "image")
    with pytest.raises(pbmem.Error) as excinfo:
        model.plan(batch=1, outputs=["nope"])
    assert_api_error(excinfo, "nope")
    for bad in (-1, 1.5, "1.5B", "", True):  # size strings are accepted ("1", "64MiB")
        with pytest.raises(pbmem.Error) as excinfo:
            pbmem.load(path, memory_limit=bad)
        assert_api_error(excinfo, "memory_limit")


def test_batch_needs_an_input_with_unknown_first_dim(pbmem):
    tf = tfcheck._tf()
    graph = tf.Graph()
    with graph.as_default():
        a = tf.compat.v1.placeholder(tf.float32, [2, None, 3], name="a")
        tf.nn.relu(a, name="ra")
    path = tfcheck.save_graph_bytes(graph.as_graph_def().SerializeToString(), "python_memory_fixed")
    model = pbmem.load(path, threads=THREADS)
    with pytest.raises(pbmem.Error) as excinfo:
        model.plan(batch=2)
    assert_api_error(excinfo, "batch", "unknown first dimension", "a")
    plan = model.plan(input_shapes={"a": (2, 4, 3)})
    assert plan["input_shapes"] == {"a": (2, 4, 3)} and plan["io_bytes"] == 2 * 4 * 3 * 4
