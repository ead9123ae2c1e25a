"""The hard memory limit and `pbmem fit` on zoo models, through the CLI and the Python API.

For mobilenet_v2 and resnet50, limits are derived from the unlimited plan at small batches (one
exactly at a plan's peak, one between two batches' peaks), so the expected largest batch is
known independently of the search. Then:
  - `fit` reports that batch, its peak and the next batch's peak;
  - a run at max_batch succeeds with max_bytes_in_use <= limit (== the predicted peak);
  - a run at max_batch + 1 is refused before it starts, with the needed bytes and the limit in
    the message, nothing allocated beyond the limit, and the same session then runs max_batch.
Also: a refused CLI run leaves a pre-existing output file byte-identical, and every new flag
rejects bad sizes.
"""
import json
import os

import numpy as np
import pytest

import models
from cli import assert_api_error, assert_cli_error, assert_ok, import_pbmem, run_cli

ZOO = ["mobilenet_v2", "resnet50"]
THREADS = 2
# (batch b, kind): "exact" puts the limit at plan(b)'s peak, "between" halfway to plan(b+1)'s.
LIMIT_CASES = [(1, "between"), (3, "exact")]


@pytest.fixture(scope="module")
def pbmem():
    return import_pbmem()


def _image_input(zoo):
    (name,) = [n for n in zoo.inputs if n not in zoo.optional_inputs]
    return name


def _peaks(pbmem, zoo, batches):
    model = pbmem.load(zoo.path, threads=THREADS)
    return {b: model.plan(batch=b)["predicted_peak_bytes"] for b in batches}


@pytest.mark.parametrize("name", ZOO)
def test_fit_agrees_with_runs(pbmem, name):
    zoo = models.get_model(name)
    image = _image_input(zoo)
    peaks = _peaks(pbmem, zoo, range(1, 5))
    for case, (batch, kind) in enumerate(LIMIT_CASES):
        limit = peaks[batch] if kind == "exact" else (peaks[batch] + peaks[batch + 1]) // 2
        where = f"{name}, limit {limit} ({kind} at batch {batch}), peaks {peaks}"
        expected = {"max_batch": batch, "peak_bytes_at_max": peaks[batch],
                    "peak_bytes_at_next": peaks[batch + 1], "memory_limit": limit,
                    "peak_bytes_at_1": peaks[1], "batched_inputs": image}
        # One limit through the CLI, the other through Python (each search costs ~5 plans).
        if case == 0:
            result = run_cli(["fit", zoo.path, "--memory-limit", str(limit), "--json",
                              "--threads", str(THREADS)])
            assert_ok(result)
            assert json.loads(result.stdout) == expected, where
        else:
            assert pbmem.load(zoo.path, threads=THREADS).fit(limit) == expected, where

        model = pbmem.load(zoo.path, threads=THREADS, memory_limit=limit)
        with pytest.raises(pbmem.Error) as refused:
            model.run(zoo.random_inputs(batch + 1))
        message = assert_api_error(refused, f"({peaks[batch + 1]} bytes)", f"({limit} bytes)",
                                   f"largest batch of {image} that fits is {batch}")
        assert "memory limit" in message, where
        assert model.stats()["lifetime"]["peak_bytes_in_use"] <= limit, where
        model.run(zoo.random_inputs(batch))  # the same session, after the refusal
        assert model.max_bytes_in_use() == peaks[batch] <= limit, where
        assert model.stats()["lifetime"]["peak_bytes_in_use"] <= limit, where


def test_cli_refused_run_leaves_existing_output_untouched(tmp_path):
    zoo = models.get_model("mobilenet_v2")
    image = _image_input(zoo)
    feed = tmp_path / "x.npy"
    np.save(feed, zoo.random_inputs(2)[image])
    out = tmp_path / "probs.npy"
    original = b"not an npy file, and it must stay exactly this"
    out.write_bytes(original)
    stats = tmp_path / "stats.json"
    result = run_cli(["run", zoo.path, "--input", f"{image}={feed}", "--output",
                      f"{zoo.outputs['probs']}={out}", "--stats-json", stats,
                      "--memory-limit", "30MiB", "--threads", THREADS])
    assert_cli_error(result, "memory limit", "(31457280 bytes)", "largest batch", "nothing was run")
    assert out.read_bytes() == original
    assert not stats.exists()
    assert result.stdout == ""


def test_cli_plan_and_fit_limit_errors():
    zoo = models.get_model("mobilenet_v2")
    peak1 = _peaks(import_pbmem(), zoo, [1])[1]
    result = run_cli(["plan", zoo.path, "--batch", "1", "--memory-limit", str(peak1 - 1)])
    assert_cli_error(result, f"({peak1} bytes)", f"({peak1 - 1} bytes)", "no batch fits")
    result = run_cli(["plan", zoo.path, "--batch", "1", "--memory-limit", str(peak1), "--json"])
    assert_ok(result)
    assert json.loads(result.stdout)["predicted_peak_bytes"] == peak1
    result = run_cli(["fit", zoo.path, "--memory-limit", str(peak1 - 1)])
    assert_cli_error(result, "batch 1", f"({peak1} bytes)", "raise the limit")
    # Weights alone over the limit: packing is refused and says so.
    result = run_cli(["fit", zoo.path, "--memory-limit", "1MiB"])
    assert_cli_error(result, "weights", "no batch fits", "(1048576 bytes)")
    result = run_cli(["run", zoo.path, "--input-shape", "images=1,224,224,3", "--memory-limit", "1MiB"])
    assert_cli_error(result)


BAD_SIZES = [("", "empty"), ("0", "zero"), ("0MB", "zero"), ("-5", "negative"),
             ("-1GiB", "negative"), ("12QB", "unknown unit"), ("lots", "number"),
             ("1.5", "whole number"), ("9223372036854775808", "too large"),
             ("99999999999TiB", "too large"), ("1..2G", "decimal points"), ("64 MB x", "after")]


@pytest.mark.parametrize("text,why", BAD_SIZES)
def test_bad_memory_limit_flags(text, why):
    zoo = models.get_model("mobilenet_v2")
    for command in (["run", zoo.path, "--input-shape", "images=1,224,224,3"],
                    ["plan", zoo.path, "--batch", "1"], ["fit", zoo.path]):
        result = run_cli(command + ["--memory-limit", text])
        assert_cli_error(result, "--memory-limit", why)


def test_fit_needs_the_limit_and_a_batch_dimension(tmp_path):
    zoo = models.get_model("mobilenet_v2")
    assert_cli_error(run_cli(["fit", zoo.path]), "--memory-limit")
    assert_cli_error(run_cli(["fit", zoo.path, "--memory-limit", "1GB", "--threads", "-1"]), "--threads")
    result = run_cli(["fit", zoo.path, "--memory-limit", "1GB", "--input-shape", "images=1,224,224"])
    assert_cli_error(result, "images")
    assert_cli_error(run_cli(["fit", str(tmp_path / "missing.pb"), "--memory-limit", "1GB"]), "missing.pb")


def test_python_memory_limit_values(pbmem):
    zoo = models.get_model("mobilenet_v2")
    assert pbmem.load(zoo.path, memory_limit="64MiB").memory_limit == 64 << 20
    assert pbmem.load(zoo.path, memory_limit="1.5G").memory_limit == 1_500_000_000
    assert pbmem.load(zoo.path, memory_limit=123456).memory_limit == 123456
    assert pbmem.load(zoo.path, memory_limit=0).memory_limit == 0
    for bad, why in BAD_SIZES + [(-1, ">= 0"), (1 << 63, "at most"), (1.5, "int"), (None, "int")]:
        with pytest.raises(pbmem.Error) as e:
            pbmem.load(zoo.path, memory_limit=bad)
        assert_api_error(e, "memory_limit", why)
    model = pbmem.load(zoo.path)
    for bad, why in [(0, "> 0"), ("0", "zero"), (-3, "> 0"), ("x", "number")]:
        with pytest.raises(pbmem.Error) as e:
            model.fit(bad)
        assert_api_error(e, "memory_limit", why)
    fit = model.fit("100MB")
    assert fit["memory_limit"] == 100_000_000 and fit["max_batch"] >= 1
