#!/usr/bin/env python3
"""Speed benchmark: pbmem against TensorFlow, ONNX Runtime and OpenCV DNN on the same frozen graphs.

    python3 bench/compare.py [--models mobilenet_v2,resnet50] [--batches 1,16] [--threads 2]
                             [--repeats 3] [--runs 10] [--warmup 3] [--out docs/PERFORMANCE.md]

Every (engine, model, batch) runs in a fresh process (bench/_latency_worker.py, which loads
models with the memory benchmark's engine code) that times load, the first run, and `--runs`
timed runs after `--warmup` untimed ones, all engines on `--threads` threads. Rounds are
interleaved (each round runs every case on every engine, in a rotated order) and the median of
the rounds' medians is reported, since the machine is shared and noisy. GFLOP/s counts the
conv/matmul multiply-adds (`pbmem bench --json`) against the FMA peak this machine reaches on
the same thread count (`build/pbmem_peak_flops`). Outputs are compared with TF's.

Writes docs/PERFORMANCE.md, docs/performance_chart.svg and bench/results/compare.json.
"""
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "py"))
sys.path.insert(0, BENCH_DIR)
import models  # noqa: E402  (tests/py: the zoo builders and their cache)
import memory  # noqa: E402  (ONNX conversion, worker spawning, machine facts)
import _compare_report as report  # noqa: E402

WORKER = os.path.join(BENCH_DIR, "_latency_worker.py")
CHART_NAME = "performance_chart.svg"
DEFAULT_RUNS = 10
DEFAULT_WARMUP = 3
TOOL_TIMEOUT_SECONDS = 600


def parse_args(argv=None):
    parser = memory.engine_parser(__doc__.split("\n\n")[0], "PERFORMANCE.md", CHART_NAME,
                                  "compare.json")
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="timed runs per process")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP)
    args = memory.check_engine_args(parser, parser.parse_args(argv), CHART_NAME)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be >= 1 and --warmup >= 0")
    return args


def run_json(cmd):
    """Runs a tool that prints one JSON object; returns it, or {"error": ...}."""
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=TOOL_TIMEOUT_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"error": f"{os.path.basename(cmd[0])}: {e}"}
    if result.returncode != 0:
        return {"error": f"{os.path.basename(cmd[0])} exit code {result.returncode}: "
                         f"{memory.tail(result.stderr or result.stdout)}"}
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError as e:
        return {"error": f"no JSON from {os.path.basename(cmd[0])} ({e})"}


def machine_peak(pbmem_bin, threads):
    """The FMA peak (GFLOP/s) on `threads` threads, measured now by build/pbmem_peak_flops."""
    tool = os.path.join(os.path.dirname(os.path.abspath(pbmem_bin)), "pbmem_peak_flops")
    return run_json([tool, str(threads)])


def model_flops(pbmem_bin, model, batch, threads):
    """Conv/matmul FLOPs of one run at `batch`, as pbmem counts them (`pbmem bench --json`)."""
    out = run_json([pbmem_bin, "bench", model.path, "--batch", str(batch), "--runs", "1",
                    "--warmup", "0", "--threads", str(threads), "--json"])
    return out if "error" in out else {"gflops": out["gflops"]}


def worker_spec(engine, model, onnx_info, args, case_dir, round_index):
    input_name = next(iter(model.inputs))
    fetched = model.outputs[memory.FETCHED_OUTPUT]
    spec = {"engine": engine, "model_path": model.path, "input_name": input_name,
            "tf_output": fetched, "threads": args.threads,
            "input_npy": os.path.join(case_dir, "input.npy"),
            "output_npy": os.path.join(case_dir, f"{engine}-r{round_index}.npy")
            if round_index == 0 else "",
            "runs": args.runs, "warmup": args.warmup,
            "pbmem_pythonpath": os.path.abspath(args.pbmem_pythonpath)}
    if engine == "ort":
        spec.update(model_path=onnx_info["path"], ort_input=input_name + ":0",
                    ort_output=fetched + ":0")
    return spec


def summarise(results):
    """Median of the rounds' medians, p10/p90 over every timed run, load and first run medians."""
    ok = [r for r in results if "error" not in r and r.get("run_ms")]
    out = {"rounds": len(results), "ok": len(ok),
           "errors": sorted({r["error"] for r in results if "error" in r})}
    if not ok:
        return out
    pooled = sorted(t for r in ok for t in r["run_ms"])
    out.update(median_ms=statistics.median(statistics.median(r["run_ms"]) for r in ok),
               p10_ms=float(np.percentile(pooled, 10)), p90_ms=float(np.percentile(pooled, 90)),
               load_ms=statistics.median(r["load_ms"] for r in ok),
               first_run_ms=statistics.median(r["first_run_ms"] for r in ok))
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    started = time.monotonic()
    peak = machine_peak(args.pbmem_bin, args.threads)
    memory.log(f"machine peak on {args.threads} threads: {peak}")
    zoo = {name: models.get_model(name) for name in args.models}
    engines = list(args.engines)
    onnx = {name: memory.convert_to_onnx(m) for name, m in zoo.items()} if "ort" in engines else {}
    cases = [(name, batch) for name in args.models for batch in args.batches]
    flops = {f"{n}/b{b}": model_flops(args.pbmem_bin, zoo[n], b, args.threads) for n, b in cases}

    workdir = tempfile.mkdtemp(prefix="pbmem-speedbench-")
    dirs = {}
    for name, batch in cases:
        dirs[(name, batch)] = os.path.join(workdir, f"{name}-b{batch}")
        os.makedirs(dirs[(name, batch)])
        x = zoo[name].random_inputs(batch)[next(iter(zoo[name].inputs))]
        np.save(os.path.join(dirs[(name, batch)], "input.npy"), x)
        memory.run_oracle(zoo[name], args, dirs[(name, batch)], f"{name} b{batch}")

    results = {(n, b, e): [] for n, b in cases for e in engines}
    for round_index in range(args.repeats):
        for case_index, (name, batch) in enumerate(cases):
            shift = (round_index + case_index) % len(engines)
            for engine in engines[shift:] + engines[:shift]:
                if engine == "ort" and "error" in onnx.get(name, {}):
                    results[(name, batch, engine)].append({"error": onnx[name]["error"]})
                    continue
                spec = worker_spec(engine, zoo[name], onnx.get(name), args,
                                   dirs[(name, batch)], round_index)
                result = memory.run_worker(spec, worker=WORKER)
                results[(name, batch, engine)].append(result)
                shown = result.get("error") or f"{statistics.median(result['run_ms']):.1f} ms"
                memory.log(f"round {round_index + 1}/{args.repeats} {name} b{batch} {engine}: "
                           f"{shown}")

    data = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": memory.command_line(argv), "machine": memory.machine_info(),
            "versions": memory.versions(args.pbmem_bin), "threads": args.threads,
            "repeats": args.repeats, "runs": args.runs, "warmup": args.warmup, "peak": peak,
            "onnx": onnx, "engines": engines, "cases": []}
    for name, batch in cases:
        entry = {"model": name, "batch": batch, "flops": flops[f"{name}/b{batch}"],
                 "engines": {e: summarise(results[(name, batch, e)]) for e in engines},
                 "output_error": {e: memory.output_error(dirs[(name, batch)], e, 1)
                                  for e in engines}}
        data["cases"].append(report.derive(entry, peak))
    data["elapsed_seconds"] = round(time.monotonic() - started, 1)
    report.write_json(data, args.json)
    report.write_svg(data, args.chart)
    report.write_markdown(data, args.out, args.chart)
    memory.log(f"done in {data['elapsed_seconds']}s: {args.out}, {args.chart}, {args.json}")


if __name__ == "__main__":
    main()
