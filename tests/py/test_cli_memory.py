"""`pbmem plan` (text, JSON, --batch/--input-shape, --ascii, errors) and `pbmem run --stats-json`
with its stderr summary, on the built-in example model and a small TF-made graph: the plan's
parts add up, lower bound <= arena <= naive, and a run holds exactly the predicted peak with no
allocation while running."""
import json
import os
import re

import numpy as np
import pytest

import tfcheck
from cli import assert_cli_error, assert_ok, run_cli

PLAN_FIELDS = ("predicted_peak_bytes", "arena_bytes", "lower_bound_bytes", "naive_bytes",
               "weights_bytes", "weights_packed_bytes", "weights_mapped_bytes", "scratch_bytes",
               "io_bytes", "peak_step", "peak_node", "default_order_lower_bound_bytes",
               "num_steps", "input_shapes", "live_at_peak")
LIVE_FIELDS = {"name", "op", "bytes", "first_step", "last_step"}
STATS_FIELDS = ("max_bytes_in_use", "bytes_in_use", "bytes_limit", "num_allocs",
                "largest_alloc_size", "predicted_peak_bytes", "weights_mapped_bytes",
                "peak_rss_bytes", "by_category", "lifetime")
CATEGORIES = {"weights_packed", "activations", "scratch", "io", "other"}
LIFETIME_FIELDS = {"num_allocs", "bytes_in_use", "peak_bytes_in_use", "largest_alloc_size",
                   "bytes_limit"}
SIZE = r"\d+(\.\d)? (B|KiB|MiB|GiB|TiB)"
SUMMARY_LINE = re.compile(
    rf"^pbmem: max_bytes_in_use {SIZE} \(predicted {SIZE}\), arena {SIZE}, "
    rf"weights {SIZE} mapped \+ {SIZE} packed, peak RSS ({SIZE}|unknown)$", re.M)
EXAMPLE_INPUT = "input"
EXAMPLE_SHAPE = (224, 224, 3)
IMAGE = np.random.default_rng(4).uniform(-1, 1, (2, 12, 12, 4)).astype(np.float32)


@pytest.fixture(scope="module")
def example_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("example") / "example.pb"
    assert_ok(run_cli(["example", path]))
    return str(path)


@pytest.fixture(scope="module")
def small_graph():
    """image float32 [?,12,12,4] -> conv 3x3x4x8 -> relu -> max pool -> mean -> matmul ->
    softmax ("out0"). Returns (path, TF's output for IMAGE)."""
    tf = tfcheck._tf()
    gen = np.random.default_rng(5)
    kernel = gen.normal(0, 0.3, (3, 3, 4, 8)).astype(np.float32)
    dense = gen.normal(0, 0.3, (8, 5)).astype(np.float32)

    def build(image):
        y = tf.nn.relu(tf.nn.conv2d(image, tf.constant(kernel), strides=1, padding="SAME"))
        y = tf.nn.max_pool2d(y, 2, 2, "VALID")
        return tf.nn.softmax(tf.matmul(tf.reduce_mean(y, axis=[1, 2]), tf.constant(dense)))

    data, names, want = tfcheck.build_tf1_graph(build, {"image": IMAGE}, dynamic_batch=True)
    assert names == ["out0:0"]
    return tfcheck.save_graph_bytes(data, "cli_memory_small"), want[0]


@pytest.fixture(scope="module")
def odd_shapes_graph():
    """a float32 [?,?,3] -> relu ("ra"); b float32 [2,3] -> tanh ("tb")."""
    tf = tfcheck._tf()
    graph = tf.Graph()
    with graph.as_default():
        a = tf.compat.v1.placeholder(tf.float32, [None, None, 3], name="a")
        b = tf.compat.v1.placeholder(tf.float32, [2, 3], name="b")
        tf.nn.relu(a, name="ra")
        tf.tanh(b, name="tb")
    return tfcheck.save_graph_bytes(graph.as_graph_def().SerializeToString(), "cli_memory_odd")


def _plan_json(*args):
    result = run_cli(["plan", *args, "--json"])
    assert_ok(result)
    return json.loads(result.stdout)


def _check_plan(plan, has_activations=True):
    """has_activations=False: a graph whose only tensors are its inputs and outputs."""
    for field in PLAN_FIELDS:
        assert field in plan, f"plan JSON lacks {field}: {sorted(plan)}"
    parts = (plan["weights_packed_bytes"] + plan["arena_bytes"] + plan["scratch_bytes"] +
             plan["io_bytes"])
    assert plan["predicted_peak_bytes"] == parts, plan
    assert plan["weights_bytes"] == plan["weights_packed_bytes"] + plan["weights_mapped_bytes"]
    if not has_activations:
        assert plan["arena_bytes"] == plan["lower_bound_bytes"] == plan["naive_bytes"] == 0, plan
        assert plan["peak_step"] == -1 and plan["live_at_peak"] == [], plan
        return
    assert 0 < plan["lower_bound_bytes"] <= plan["arena_bytes"] <= plan["naive_bytes"], plan
    assert 0 <= plan["peak_step"] < plan["num_steps"], plan
    assert plan["peak_node"], plan
    assert plan["live_at_peak"], plan
    for tensor in plan["live_at_peak"]:
        assert set(tensor) == LIVE_FIELDS, tensor
        assert tensor["first_step"] <= plan["peak_step"] <= tensor["last_step"], tensor
    sizes = [t["bytes"] for t in plan["live_at_peak"]]
    assert sizes == sorted(sizes, reverse=True), "live_at_peak is not largest first"
    # The tensors live at the peak step are what the lower bound counts there.
    assert sum(sizes) <= plan["lower_bound_bytes"], plan
    assert plan["default_order_lower_bound_bytes"] > 0


def _run_with_stats(tmp_path, model, feeds, extra=()):
    args = ["run", model]
    for name, value in feeds.items():
        path = tmp_path / f"{name}.npy"
        np.save(path, value)
        args += ["--input", f"{name}={path}"]
    stats_path = tmp_path / "stats.json"
    result = run_cli(args + ["--stats-json", stats_path, *extra])
    assert_ok(result)
    with open(stats_path) as f:
        stats = json.load(f)
    leftovers = [p for p in os.listdir(tmp_path) if ".tmp" in p]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    return result, stats


def _check_stats_against_plan(stats, plan):
    for field in STATS_FIELDS:
        assert field in stats, f"--stats-json lacks {field}: {sorted(stats)}"
    assert stats["max_bytes_in_use"] == plan["predicted_peak_bytes"] == \
        stats["predicted_peak_bytes"], (stats, plan)
    assert stats["num_allocs"] == 0, f"the run allocated: {stats}"
    assert stats["weights_mapped_bytes"] == plan["weights_mapped_bytes"]
    assert stats["bytes_in_use"] <= stats["max_bytes_in_use"]
    assert stats["bytes_limit"] > 0
    assert isinstance(stats["peak_rss_bytes"], int) and stats["peak_rss_bytes"] > 0, stats
    assert stats["by_category"] == {
        "weights_packed": plan["weights_packed_bytes"], "activations": plan["arena_bytes"],
        "scratch": plan["scratch_bytes"], "io": plan["io_bytes"], "other": 0}, (stats, plan)
    lifetime = stats["lifetime"]
    assert set(lifetime) == LIFETIME_FIELDS, lifetime
    assert lifetime["num_allocs"] > 0 and lifetime["peak_bytes_in_use"] >= stats["max_bytes_in_use"]
    assert lifetime["bytes_in_use"] == stats["bytes_in_use"]


def test_plan_text_shows_the_breakdown(example_model):
    plan = _plan_json(example_model, "--batch", "1")
    result = run_cli(["plan", example_model, "--batch", "1"])
    assert_ok(result)
    text = result.stdout
    for fragment in (f"input shapes: {EXAMPLE_INPUT} [1,224,224,3]",
                     f"predicted peak: ", f"({plan['predicted_peak_bytes']} bytes)",
                     "weights packed", f"({plan['arena_bytes']} bytes)", "scratch", "I/O",
                     f"({plan['weights_bytes']} bytes)", "mapped", "lower bound",
                     f"({plan['lower_bound_bytes']} bytes)", "naive sum",
                     f"({plan['naive_bytes']} bytes)", "arena / lower bound = ",
                     "default order", "scheduled order",
                     f"peak at step {plan['peak_step']} of {plan['num_steps']}, "
                     f"node '{plan['peak_node']}'", plan["live_at_peak"][0]["name"],
                     plan["live_at_peak"][0]["op"]):
        assert fragment in text, f"{fragment!r} not in:\n{text}"
    assert re.search(r"predicted peak: \d+\.\d MiB \(", text), text
    assert "plan:" not in text and "step 0 |" not in text


def test_plan_json_is_consistent(example_model, small_graph):
    plan = _plan_json(example_model, "--batch", "1")
    _check_plan(plan)
    assert plan["input_shapes"] == {EXAMPLE_INPUT: [1, *EXAMPLE_SHAPE]}
    assert plan["weights_bytes"] > 0 and plan["io_bytes"] == 1000 * 4
    small = _plan_json(small_graph[0], "--input-shape", "image=3,12,12,4")
    _check_plan(small)
    assert small["input_shapes"] == {"image": [3, 12, 12, 4]}


def test_plan_ascii(example_model):
    result = run_cli(["plan", example_model, "--batch", "1", "--ascii"])
    assert_ok(result)
    assert "\nplan:\n" in result.stdout and "step 0 |" in result.stdout
    plan = _plan_json(example_model, "--batch", "1", "--ascii")
    assert "step 0 |" in plan["ascii_plan"]


def test_batch_scales_activations_and_input_shape_overrides(small_graph):
    path = small_graph[0]
    one = _plan_json(path, "--batch", "1")
    two = _plan_json(path, "--batch", "2")
    assert two["arena_bytes"] > one["arena_bytes"], (one, two)
    assert two["lower_bound_bytes"] > one["lower_bound_bytes"]
    assert two["io_bytes"] == 2 * one["io_bytes"]
    assert two["input_shapes"] == {"image": [2, 12, 12, 4]}
    overridden = _plan_json(path, "--batch", "2", "--input-shape", "image:0=5,12,12,4")
    assert overridden["input_shapes"] == {"image": [5, 12, 12, 4]}
    same = _plan_json(path, "--input-shape", "image=2,12,12,4")
    assert same == two


def test_plan_outputs_and_flag_order(odd_shapes_graph):
    plan = _plan_json("--output", "tb", odd_shapes_graph)
    assert plan["input_shapes"] == {"b": [2, 3]}
    assert plan["io_bytes"] == 2 * 3 * 4
    plan = _plan_json(odd_shapes_graph, "--output", "ra", "--input-shape", "a=4,5,3")
    assert plan["input_shapes"] == {"a": [4, 5, 3]}
    assert plan["io_bytes"] == 4 * 5 * 3 * 4


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_bad_batch(small_graph, value):
    assert_cli_error(run_cli(["plan", small_graph[0], "--batch", value]), "--batch")


def test_batch_needs_an_input_with_unknown_first_dim(odd_shapes_graph):
    result = run_cli(["plan", odd_shapes_graph, "--output", "tb", "--batch", "2"])
    # 'a' has an unknown first dim, so --batch is accepted; planning only 'tb' does not need it.
    assert_ok(result)
    graph = tfcheck._tf().Graph()
    with graph.as_default():
        b = tfcheck._tf().compat.v1.placeholder("float32", [2, 3], name="b")
        tfcheck._tf().tanh(b, name="tb")
    fixed = tfcheck.save_graph_bytes(graph.as_graph_def().SerializeToString(), "cli_memory_fixed")
    assert_cli_error(run_cli(["plan", fixed, "--batch", "2"]), "--batch", "unknown first dim",
                     "'b'")
    # Fully known shapes need no flag. tanh writes the output buffer directly: no activations.
    _check_plan(_plan_json(fixed), has_activations=False)
    result = run_cli(["plan", fixed])
    assert_ok(result)
    assert "no activations" in result.stdout, result.stdout


def test_input_shape_errors(small_graph, odd_shapes_graph):
    path = small_graph[0]
    assert_cli_error(run_cli(["plan", path, "--input-shape", "nope=1,12,12,4"]),
                     "--input-shape", "nope", "image")
    assert_cli_error(run_cli(["plan", path, "--input-shape", "image=1,12,12"]),
                     "--input-shape", "rank")
    assert_cli_error(run_cli(["plan", path, "--input-shape", "image=1,12,12,5"]),
                     "--input-shape", "dimension 3")
    assert_cli_error(run_cli(["plan", path, "--input-shape", "image=1,?,12,4"]),
                     "--input-shape", "every dimension must be known")
    assert_cli_error(run_cli(["plan", path, "--input-shape", "image"]), "--input-shape")
    assert_cli_error(run_cli(["plan", path, "--input-shape", "image=2,12,12,4",
                              "--input-shape", "image:0=2,12,12,4"]), "given twice")
    assert_cli_error(run_cli(["plan", path, "--threads", "-1"]), "--threads")
    assert_cli_error(run_cli(["plan", path, "--batch", "1", "--output", "nope"]), "nope")


def test_shapes_that_stay_unknown_are_the_runtimes_error(small_graph, odd_shapes_graph):
    assert_cli_error(run_cli(["plan", small_graph[0]]), "'image'", "[?,12,12,4]")
    # --batch fixes only the first dim of 'a' [?,?,3].
    assert_cli_error(run_cli(["plan", odd_shapes_graph, "--batch", "2"]), "'a'", "[2,?,3]")


def test_run_stats_json_example_model(example_model, tmp_path):
    plan = _plan_json(example_model, "--batch", "1")
    image = np.random.default_rng(1).uniform(0, 1, (1, *EXAMPLE_SHAPE)).astype(np.float32)
    result, stats = _run_with_stats(tmp_path, example_model, {EXAMPLE_INPUT: image})
    _check_stats_against_plan(stats, plan)
    lines = SUMMARY_LINE.findall(result.stderr)
    assert len(lines) == 1, f"no summary line on stderr: {result.stderr!r}"
    assert "max_bytes_in_use" not in result.stdout, "the summary belongs on stderr"


def test_run_stats_json_small_graph_matches_tf(small_graph, tmp_path):
    path, want = small_graph
    plan = _plan_json(path, "--batch", str(IMAGE.shape[0]))
    out_path = tmp_path / "out.npy"
    result, stats = _run_with_stats(tmp_path, path, {"image": IMAGE},
                                    ["--output", f"out0={out_path}"])
    _check_stats_against_plan(stats, plan)
    tfcheck.assert_matches(np.load(out_path), want, "out0")
    assert SUMMARY_LINE.search(result.stderr), result.stderr


def test_summary_line_without_stats_json(small_graph, tmp_path):
    np.save(tmp_path / "image.npy", IMAGE)
    result = run_cli(["run", small_graph[0], "--input", f"image={tmp_path / 'image.npy'}"])
    assert_ok(result)
    assert SUMMARY_LINE.search(result.stderr), result.stderr


def test_stats_json_errors_come_before_the_run(small_graph, tmp_path):
    np.save(tmp_path / "image.npy", IMAGE)
    args = ["run", small_graph[0], "--input", f"image={tmp_path / 'image.npy'}"]
    result = run_cli(args + ["--stats-json", tmp_path / "missing" / "stats.json"])
    assert_cli_error(result, "--stats-json", "missing")
    assert "out0" not in result.stdout, "the model ran although --stats-json was bad"
    assert_cli_error(run_cli(args + ["--stats-json", tmp_path]), "--stats-json", "directory")
    same = tmp_path / "same.npy"
    assert_cli_error(run_cli(args + ["--output", f"out0={same}", "--stats-json", same]),
                     "--stats-json", "out0")
    assert not same.exists()
