#!/usr/bin/env python3
"""Memory benchmark: peak RSS of pbmem against TensorFlow, ONNX Runtime and OpenCV DNN.

    python3 bench/memory.py [--models mobilenet_v2,resnet50] [--batches 1,16] [--repeats 3]
                            [--out docs/MEMORY.md]

Each (engine, model, batch) runs in a fresh process (bench/_memory_worker.py) that records
peak RSS minus its own baseline (RSS after importing the engine, before loading the model).
Repeats are interleaved across engines and the median is reported, since the machine is shared
and noisy. pbmem's own prediction (predicted peak, lower bound, naive sum) comes from
`pbmem plan MODEL --batch N --json`. The models are the frozen Keras zoo of tests/py/models.py
(same cache as the tests); ONNX Runtime runs a tf2onnx conversion of the same .pb.

Writes docs/MEMORY.md, docs/memory_chart.svg and bench/results/memory.json.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
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
import tfcheck  # noqa: E402
import _memory_report as report  # noqa: E402

WORKER = os.path.join(BENCH_DIR, "_memory_worker.py")
ENGINES = ["tf", "ort", "opencv", "pbmem"]
# The name of the run that gives the reference output: TF with its reference kernels.
ORACLE_RUN = "tf-oracle"
DEFAULT_MODELS = list(models.KERAS_MODELS)
DEFAULT_BATCHES = [1, 16]
DEFAULT_REPEATS = 3
DEFAULT_THREADS = 2
WORKER_TIMEOUT_SECONDS = 600
CONVERT_TIMEOUT_SECONDS = 900
PLAN_TIMEOUT_SECONDS = 300
STDERR_TAIL_CHARS = 600
# The role of the output every engine fetches (and that is compared with TF's).
FETCHED_OUTPUT = "probs"
CHART_NAME = "memory_chart.svg"


def engine_parser(description, doc_name, chart_name, json_name):
    """The arguments every engine benchmark takes (this one and bench/compare.py): models,
    batches, rounds, engines, threads, output paths and the pbmem build to use."""
    parser = argparse.ArgumentParser(description=description)
    csv = lambda text: [item.strip() for item in text.split(",") if item.strip()]  # noqa: E731
    parser.add_argument("--models", type=csv, default=DEFAULT_MODELS)
    parser.add_argument("--batches", type=lambda t: [int(b) for b in csv(t)],
                        default=DEFAULT_BATCHES)
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS,
                        help="interleaved rounds (fresh process per engine and case each round)")
    parser.add_argument("--engines", type=csv, default=ENGINES)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help="threads given to every engine (default %(default)s)")
    parser.add_argument("--out", default=os.path.join(REPO_ROOT, "docs", doc_name))
    parser.add_argument("--chart", default=None,
                        help=f"SVG path (default: {chart_name} next to --out)")
    parser.add_argument("--json", default=os.path.join(BENCH_DIR, "results", json_name))
    parser.add_argument("--pbmem-bin", default=os.environ.get(
        "PBMEM_BIN", os.path.join(REPO_ROOT, "build", "pbmem")))
    parser.add_argument("--pbmem-pythonpath", default=os.environ.get(
        "PBMEM_PYTHONPATH", os.path.join(REPO_ROOT, "build", "python")))
    return parser


def check_engine_args(parser, args, chart_name):
    """Rejects unknown models or engines and non-positive counts; fills in the chart path."""
    unknown = [m for m in args.models if m not in models.KERAS_MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; known: {list(models.KERAS_MODELS)}")
    bad_engines = [e for e in args.engines if e not in ENGINES]
    if bad_engines:
        parser.error(f"unknown engines {bad_engines}; known: {ENGINES}")
    if args.repeats < 1 or args.threads < 1 or not args.batches or min(args.batches) < 1:
        parser.error("--repeats, --threads and every batch must be >= 1")
    if args.chart is None:
        args.chart = os.path.join(os.path.dirname(os.path.abspath(args.out)), chart_name)
    return args


def parse_args(argv=None):
    parser = engine_parser(__doc__.split("\n\n")[0], "MEMORY.md", CHART_NAME, "memory.json")
    return check_engine_args(parser, parser.parse_args(argv), CHART_NAME)


def log(*parts):
    print(f"[{time.strftime('%H:%M:%S')}]", *parts, file=sys.stderr, flush=True)


def tail(text, limit=STDERR_TAIL_CHARS):
    lines = [l for l in (text or "").strip().splitlines() if l.strip()]
    return " | ".join(lines[-3:])[-limit:]


# --- ONNX conversion (tf2onnx), cached next to the .pb ---

def convert_to_onnx(model):
    """Returns {"path", "opset", "tf2onnx", "seconds"} or {"error"}; cached by .pb content."""
    try:
        import tf2onnx
    except ImportError as e:
        return {"error": f"tf2onnx is not installed ({e}); ONNX Runtime left out"}
    stem = os.path.splitext(os.path.basename(model.path))[0]
    path = os.path.join(tfcheck.CACHE_DIR, f"{stem}.tf2onnx-{tf2onnx.__version__}.onnx")
    info = {"tf2onnx": tf2onnx.__version__, "path": path, "seconds": 0.0}
    if not os.path.exists(path):
        input_name = next(iter(model.inputs))
        outputs = ",".join(model.outputs[role] + ":0" for role in ("logits", "probs"))
        tmp = path + f".tmp{os.getpid()}.onnx"
        cmd = [sys.executable, "-m", "tf2onnx.convert", "--graphdef", model.path,
               "--inputs", input_name + ":0", "--outputs", outputs, "--output", tmp]
        log(f"converting {model.name} to ONNX with tf2onnx {tf2onnx.__version__}")
        start = time.monotonic()
        try:
            result = subprocess.run(cmd, capture_output=True, text=True,
                                    timeout=CONVERT_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            return {"error": f"tf2onnx timed out after {CONVERT_TIMEOUT_SECONDS}s"}
        if result.returncode != 0 or not os.path.exists(tmp):
            return {"error": f"tf2onnx failed ({result.returncode}): {tail(result.stderr)}"}
        os.replace(tmp, path)
        info["seconds"] = round(time.monotonic() - start, 1)
    try:
        import onnx
        proto = onnx.load(path, load_external_data=False)
        info["opset"] = max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    except Exception as e:  # the opset is informative only
        info["opset_error"] = str(e)[:200]
    return info


# --- pbmem's prediction from the CLI ---

def pbmem_plan(binary, model, batch, threads):
    """`pbmem plan` for the output the workers fetch, so that it describes the measured run."""
    cmd = [binary, "plan", model.path, "--batch", str(batch), "--json",
           "-o", model.outputs[FETCHED_OUTPUT], "--threads", str(threads)]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=PLAN_TIMEOUT_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"error": f"{' '.join(cmd[:2])}: {e}"}
    if result.returncode != 0:
        return {"error": f"pbmem plan exit code {result.returncode}: "
                         f"{tail(result.stderr or result.stdout)}"}
    try:
        plan = json.loads(result.stdout)
    except json.JSONDecodeError as e:
        return {"error": f"pbmem plan --json printed no JSON ({e}): {tail(result.stdout)}"}
    for bulky in ("live_at_peak", "ascii_plan"):
        plan.pop(bulky, None)
    return plan


# --- one worker process ---

def run_worker(spec, worker=WORKER, oracle=False):
    """Peers run at their defaults, as users run them (TF with its oneDNN kernels where it
    enables them); with `oracle`, TF runs its reference kernels, whose output every engine's is
    compared with (tests/py/tfcheck.py's ORACLE_ENV: TF's oneDNN path differs by CPU)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    for key, value in tfcheck.ORACLE_ENV.items():
        if oracle:
            env[key] = value
        else:
            env.pop(key, None)
    cmd = [sys.executable, worker, json.dumps(spec)]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, env=env,
                                timeout=WORKER_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return {"engine": spec["engine"], "error": f"timed out after {WORKER_TIMEOUT_SECONDS}s"}
    lines = result.stdout.strip().splitlines()
    if lines:
        try:
            parsed = json.loads(lines[-1])
            if result.returncode != 0 and "error" not in parsed:
                parsed["error"] = f"exit code {result.returncode}"
            return parsed
        except json.JSONDecodeError:
            pass
    how = (f"killed by signal {-result.returncode}" if result.returncode < 0
           else f"exit code {result.returncode}")
    return {"engine": spec["engine"], "error": f"crashed ({how}): {tail(result.stderr)}"}


def worker_spec(engine, model, onnx_info, args, paths, repeat):
    input_name = next(iter(model.inputs))
    fetched = model.outputs[FETCHED_OUTPUT]
    spec = {"engine": engine, "model_path": model.path, "input_name": input_name,
            "tf_output": fetched, "threads": args.threads, "input_npy": paths["input"],
            "output_npy": os.path.join(paths["dir"], f"{engine}-r{repeat}.npy"),
            "tf_trace": engine == "tf" and repeat == 0,
            "pbmem_pythonpath": os.path.abspath(args.pbmem_pythonpath)}
    if engine == "ort":
        spec.update(model_path=onnx_info["path"], ort_input=input_name + ":0",
                    ort_output=fetched + ":0")
    return spec


def run_oracle(model, args, case_dir, label):
    """Writes the reference output of the case in case_dir (whose input.npy both benchmarks
    write), from TF's reference kernels, for output_error."""
    paths = {"dir": case_dir, "input": os.path.join(case_dir, "input.npy")}
    spec = dict(worker_spec("tf", model, None, args, paths, 0), tf_trace=False,
                output_npy=os.path.join(case_dir, f"{ORACLE_RUN}-r0.npy"))
    result = run_worker(spec, oracle=True)
    log(f"{label}: reference output from TF's reference kernels"
        + (f" failed: {result['error']}" if "error" in result else ""))


def output_error(case_dir, engine, repeats):
    """max|engine - oracle| / max|oracle| over the fetched probabilities, from any successful
    run; the oracle is TF's reference kernels (ORACLE_RUN)."""
    def first(name, count):
        for r in range(count):
            path = os.path.join(case_dir, f"{name}-r{r}.npy")
            if os.path.exists(path):
                return np.load(path)
        return None
    ours, theirs = first(engine, repeats), first(ORACLE_RUN, 1)
    if ours is None or theirs is None:
        return None
    if ours.shape != theirs.shape:
        return {"shape_mismatch": [list(ours.shape), list(theirs.shape)]}
    scale = float(np.max(np.abs(theirs))) or 1.0
    return {"max_abs": float(np.max(np.abs(ours.astype(np.float64) - theirs))),
            "relative": float(np.max(np.abs(ours.astype(np.float64) - theirs)) / scale)}


def summarise(runs):
    """Median (and spread) of the successful runs' peak deltas; the distinct errors."""
    ok = [r for r in runs if "error" not in r and "peak_delta_bytes" in r]
    out = {"runs": len(runs), "ok": len(ok),
           "errors": sorted({r["error"] for r in runs if "error" in r})}
    if ok:
        deltas = [r["peak_delta_bytes"] for r in ok]
        out.update(
            peak_delta_bytes=int(statistics.median(deltas)), min_bytes=min(deltas),
            max_bytes=max(deltas),
            load_delta_bytes=int(statistics.median(r["load_peak_bytes"] - r["baseline_bytes"]
                                                   for r in ok)),
            warmup_delta_bytes=int(statistics.median(r["warmup_peak_bytes"] - r["baseline_bytes"]
                                                     for r in ok)),
            run_delta_bytes=int(statistics.median(r["run_peak_bytes"] - r["baseline_bytes"]
                                                  for r in ok)),
            baseline_bytes=int(statistics.median(r["baseline_bytes"] for r in ok)),
            hwm_reset=all(r.get("hwm_reset") for r in ok),
            run_seconds=statistics.median(r["run_seconds"] for r in ok))
        extras = [r["extras"] for r in ok if "extras" in r]
        if extras:
            out["extras"] = next((e for e in extras if "trace" in e), extras[0])
    return out


# --- machine and versions ---

def machine_info():
    info = {"cpu": platform.processor() or "unknown", "cores": os.cpu_count(),
            "python": platform.python_version(), "kernel": platform.release()}
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                info["cpu"] = line.split(":", 1)[1].strip()
    except OSError:
        pass
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                info["ram_bytes"] = int(line.split()[1]) * 1024
    return info


def versions(pbmem_bin):
    out = {}
    for key, module in (("tensorflow", "tensorflow"), ("onnxruntime", "onnxruntime"),
                        ("opencv", "cv2"), ("tf2onnx", "tf2onnx"), ("numpy", "numpy")):
        try:
            out[key] = __import__(module).__version__
        except Exception as e:
            out[key] = f"unavailable ({type(e).__name__})"
    try:
        out["pbmem"] = subprocess.run([pbmem_bin, "--version"], capture_output=True,
                                      text=True).stdout.strip()
    except OSError as e:
        out["pbmem"] = f"unavailable ({e})"
    git = subprocess.run(["git", "-C", REPO_ROOT, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True)
    out["pbmem_commit"] = git.stdout.strip()
    return out


def command_line(argv):
    shown = [os.path.relpath(sys.argv[0], REPO_ROOT) if os.path.isabs(sys.argv[0])
             else sys.argv[0]] + list(argv)
    return "python3 " + " ".join(shown)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    started = time.monotonic()
    zoo = {name: models.get_model(name) for name in args.models}
    engines = list(args.engines)
    onnx = {}
    if "ort" in engines:
        onnx = {name: convert_to_onnx(model) for name, model in zoo.items()}
    cases = [(name, batch) for name in args.models for batch in args.batches]
    plans = {}
    if "pbmem" in engines:
        plans = {f"{n}/b{b}": pbmem_plan(args.pbmem_bin, zoo[n], b, args.threads)
                 for n, b in cases}

    workdir = tempfile.mkdtemp(prefix="pbmem-membench-")
    paths = {}
    for name, batch in cases:
        case_dir = os.path.join(workdir, f"{name}-b{batch}")
        os.makedirs(case_dir)
        input_path = os.path.join(case_dir, "input.npy")
        np.save(input_path, zoo[name].random_inputs(batch)[next(iter(zoo[name].inputs))])
        paths[(name, batch)] = {"dir": case_dir, "input": input_path}

    for name, batch in cases:
        run_oracle(zoo[name], args, paths[(name, batch)]["dir"], f"{name} b{batch}")

    runs = {(n, b, e): [] for n, b in cases for e in engines}
    total = len(cases) * len(engines) * args.repeats
    done = 0
    try:
        for repeat in range(args.repeats):
            for index, (name, batch) in enumerate(cases):
                shift = (repeat + index) % len(engines)  # interleave: rotate the engine order
                for engine in engines[shift:] + engines[:shift]:
                    done += 1
                    if engine == "ort" and "error" in onnx[name]:
                        runs[(name, batch, engine)].append({"error": onnx[name]["error"]})
                        continue
                    spec = worker_spec(engine, zoo[name], onnx.get(name),
                                       args, paths[(name, batch)], repeat)
                    result = run_worker(spec)
                    runs[(name, batch, engine)].append(result)
                    shown = (f"{result['peak_delta_bytes'] / report.MB:.1f} MB"
                             if "peak_delta_bytes" in result else result.get("error", "?"))
                    log(f"{done}/{total} r{repeat} {name} b{batch} {engine}: {shown}")
        results = []
        for name, batch in cases:
            entry = {"model": name, "batch": batch, "plan": plans.get(f"{name}/b{batch}"),
                     "engines": {}}
            for engine in engines:
                summary = summarise(runs[(name, batch, engine)])
                summary["vs_tf_output"] = output_error(paths[(name, batch)]["dir"], engine,
                                                       args.repeats)
                summary["samples"] = runs[(name, batch, engine)]
                entry["engines"][engine] = summary
            results.append(entry)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    data = {
        "generated": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command_line(argv), "machine": machine_info(),
        "versions": versions(args.pbmem_bin), "threads": args.threads,
        "repeats": args.repeats, "engines": engines, "fetched_output": FETCHED_OUTPUT,
        "models": {n: {"path": os.path.relpath(m.path, REPO_ROOT), "file_bytes": m.file_bytes,
                       "input": {k: v for k, v in m.inputs.items()}} for n, m in zoo.items()},
        "onnx": {n: {k: (os.path.relpath(v, REPO_ROOT) if k == "path" else v)
                     for k, v in info.items()} for n, info in onnx.items()},
        "results": results, "elapsed_seconds": round(time.monotonic() - started, 1)}
    report.write_json(data, args.json)
    report.write_svg(data, args.chart)
    report.write_markdown(data, args.out, args.chart)
    log(f"done in {data['elapsed_seconds']}s: {args.out}, {args.chart}, {args.json}")


if __name__ == "__main__":
    main()
