"""`pbmem bench`: JSON fields, percentile order, the FLOP count against a hand count for a
conv + depthwise + transposed conv + matmul graph, and bad flags."""
import json

import numpy as np
import pytest

import tfcheck
from cli import assert_cli_error, assert_ok, run_cli

N, H, W, C, F, K = 3, 10, 12, 4, 8, 3
UNITS = 5


@pytest.fixture(scope="module")
def conv_model():
    """x [?,10,12,4] -> conv 3x3 (8) SAME -> depthwise 3x3 x2 VALID -> transposed conv stride 2
    -> mean -> matmul (5)."""
    tf = tfcheck._tf()
    rng = np.random.default_rng(0)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, H, W, C], name="x")
        f = tf.constant(rng.standard_normal((K, K, C, F)).astype(np.float32))
        y = tf.nn.conv2d(x, f, strides=1, padding="SAME")                       # [n,10,12,8]
        d = tf.constant(rng.standard_normal((K, K, F, 2)).astype(np.float32))
        y = tf.nn.depthwise_conv2d(y, d, strides=[1, 1, 1, 1], padding="VALID")  # [n,8,10,16]
        t = tf.constant(rng.standard_normal((2, 2, 6, 16)).astype(np.float32))
        y = tf.nn.conv2d_transpose(y, t, output_shape=tf.stack([tf.shape(y)[0], 16, 20, 6]),
                                   strides=2, padding="SAME")                    # [n,16,20,6]
        y = tf.reduce_mean(y, axis=[1, 2])                                       # [n,6]
        m = tf.constant(rng.standard_normal((6, UNITS)).astype(np.float32))
        tf.matmul(y, m, name="out")
    return tfcheck.save_graph_bytes(graph.as_graph_def().SerializeToString(), "cli_bench_conv")


def expected_flops(n):
    conv = n * H * W * F * (K * K * C)
    depthwise = n * (H - 2) * (W - 2) * (F * 2) * (K * K)
    transposed = n * (H - 2) * (W - 2) * 16 * (2 * 2 * 6)  # out_backprop elements x KH*KW*Cout
    matmul = n * UNITS * 6
    return 2 * (conv + depthwise + transposed + matmul)


def test_bench_json_reports_latency_percentiles_and_flops(conv_model):
    result = run_cli(["bench", conv_model, "--batch", str(N), "--runs", "7", "--warmup", "1",
                      "--threads", "1", "--json"])
    assert_ok(result)
    report = json.loads(result.stdout)
    for key in ("median_ms", "p10_ms", "p90_ms", "load_ms", "gflops_per_s", "throughput_per_s",
                "parse_ms", "prepare_ms", "max_bytes_in_use"):
        assert key in report, key
    assert report["batch"] == N and report["runs"] == 7 and report["warmup"] == 1
    assert 0 < report["min_ms"] <= report["p10_ms"] <= report["median_ms"] <= report["p90_ms"] \
        <= report["max_ms"]
    assert report["load_ms"] >= report["parse_ms"] + report["prepare_ms"] * 0.99
    assert report["gflops"] * 1e9 == pytest.approx(expected_flops(N), rel=1e-9)
    assert report["gflops_per_s"] == pytest.approx(
        report["gflops"] / (report["median_ms"] / 1e3), rel=1e-6)
    assert report["throughput_per_s"] == pytest.approx(N / (report["median_ms"] / 1e3), rel=1e-6)
    assert report["max_bytes_in_use"] > 0


def test_bench_text_and_input_shape(conv_model):
    result = run_cli(["bench", conv_model, "--input-shape", f"x=2,{H},{W},{C}", "--runs", "2",
                      "--warmup", "0"])
    assert_ok(result)
    assert "batch 2" in result.stdout and "median" in result.stdout and "GFLOP/s" in result.stdout


@pytest.mark.parametrize("flags, mentions", [
    (["--runs", "0"], ["--runs"]),
    (["--warmup", "-1"], ["--warmup"]),
    (["--threads", "-2"], ["--threads"]),
    (["--batch", "0"], ["--batch"]),
    (["--batch", "99999999999999999999"], ["--batch"]),
    ([], ["unknown dims", "--batch"]),
])
def test_bench_bad_flags(conv_model, flags, mentions):
    assert_cli_error(run_cli(["bench", conv_model] + flags), *mentions)


def test_bench_missing_model():
    assert_cli_error(run_cli(["bench", "/nonexistent/model.pb", "--batch", "1"]), "cannot open")
