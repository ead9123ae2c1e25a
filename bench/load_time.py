#!/usr/bin/env python3
"""Load time: pbmem's mmap + parse + prepare against TensorFlow's GraphDef parse + import.

    python3 bench/load_time.py [--models resnet50,inception_v3] [--repeats 5] [--batch 1]
                               [--pbmem build/pbmem] [--baseline OTHER_PBMEM] [--no-tf]
                               [--out docs/PERFORMANCE.md]

Every measurement is a fresh process, with the model file in the page cache (it is read once
before the first round): that is what "warm" means here. pbmem: `pbmem bench MODEL --batch N
--runs 1 --warmup 0 --json`, whose load_ms is mmap + parse + prepare (shapes, folding, fusion,
oneDNN primitives, weight packing, memory plan, binding) and whose one timed run is the first
run. With --baseline, that binary is measured too, interleaved with --pbmem (order alternating
per round), for before/after comparisons. A second load in the same process (the Python module:
load + plan of the same file again, oneDNN's primitive cache now warm) is timed separately. TF:
`GraphDef.ParseFromString` + `tf.import_graph_def` in a fresh Python process (the import of
tensorflow itself is not counted). Reported: medians over --repeats rounds.

Writes the "Load time" section of docs/PERFORMANCE.md (between the load-time markers, which
bench/compare.py keeps when it rewrites the rest) and bench/results/load_time.json.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "py"))
import models  # noqa: E402  (tests/py: the zoo and its cache)

DEFAULT_MODELS = ["resnet50", "inception_v3", "efficientnet_b0", "mobilenet_v2", "densenet121"]
DEFAULT_REPEATS = 5
DEFAULT_BATCH = 1
TIMEOUT_SECONDS = 600
GOAL_MS = 50.0
GOAL_MODEL = "resnet50"
SECTION_BEGIN = "<!-- load_time.py: begin -->"
SECTION_END = "<!-- load_time.py: end -->"

TF_SCRIPT = r"""
import os, sys, time, json
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf
t0 = time.perf_counter()
graph_def = tf.compat.v1.GraphDef()
with open(sys.argv[1], "rb") as f:
    graph_def.ParseFromString(f.read())
t1 = time.perf_counter()
with tf.Graph().as_default():
    tf.import_graph_def(graph_def, name="")
t2 = time.perf_counter()
print(json.dumps({"parse_ms": (t1 - t0) * 1e3, "import_ms": (t2 - t1) * 1e3, "load_ms": (t2 - t0) * 1e3}))
"""

# Two loads of the same file in one process; argv: model path, batch, threads.
SECOND_LOAD_SCRIPT = r"""
import json, sys, time
import pbmem
times = []
for _ in range(2):
    t0 = time.perf_counter()
    model = pbmem.load(sys.argv[1], threads=int(sys.argv[3]))
    model.plan(batch=int(sys.argv[2]))
    times.append((time.perf_counter() - t0) * 1e3)
    del model
print(json.dumps({"first_load_ms": times[0], "second_load_ms": times[1]}))
"""


def last_json(text):
    """The JSON object a child printed: its whole stdout (pbmem bench --json indents), or the
    last line (after anything a library printed first)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(text.strip().splitlines()[-1])


def run(cmd, env=None):
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed: {result.stderr[-600:]}")
    return last_json(result.stdout)


def pbmem_once(binary, path, batch, threads):
    out = run([binary, "bench", path, "--batch", str(batch), "--runs", "1", "--warmup", "0",
               "--threads", str(threads), "--json"])
    return {"load_ms": out["load_ms"], "parse_ms": out["parse_ms"],
            "prepare_ms": out["prepare_ms"], "first_run_ms": out["median_ms"]}


def median_of(samples):
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


def measure(args):
    paths = {name: models.get_model(name).path for name in args.models}
    for path in paths.values():
        with open(path, "rb") as f:  # into the page cache: every round measures a warm file
            while f.read(1 << 24):
                pass
    binaries = {"pbmem": args.pbmem}
    if args.baseline:
        binaries["baseline"] = args.baseline
    env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(os.path.abspath(args.pbmem)),
                                                   "python"))
    samples = {}
    for round_index in range(args.repeats):
        for name, path in paths.items():
            order = list(binaries.items())
            if round_index % 2:
                order.reverse()
            for label, binary in order:
                samples.setdefault((name, label), []).append(
                    pbmem_once(binary, path, args.batch, args.threads))
            samples.setdefault((name, "second_load"), []).append(
                run([sys.executable, "-c", SECOND_LOAD_SCRIPT, path, str(args.batch),
                     str(args.threads)], env=env))
            if not args.no_tf:
                samples.setdefault((name, "tf"), []).append(
                    run([sys.executable, "-c", TF_SCRIPT, path]))
    results = []
    for name, path in paths.items():
        entry = {"model": name, "file_bytes": os.path.getsize(path)}
        for label in list(binaries) + ["second_load"] + ([] if args.no_tf else ["tf"]):
            entry[label] = median_of(samples[(name, label)])
        results.append(entry)
    return results


def section(results, args):
    has_baseline = any("baseline" in r for r in results)
    has_tf = any("tf" in r for r in results)
    head = "| Model | File MB |"
    rule = "|---|---|"
    if has_baseline:
        head += " before: load ms (parse + prepare) |"
        rule += "---|"
    head += " pbmem load ms (parse + prepare) | second load in process ms | pbmem first run ms |"
    rule += "---|---|---|"
    if has_tf:
        head += " TF parse + import ms |"
        rule += "---|"
    lines = [SECTION_BEGIN, "## Load time", "",
             "Generated by `bench/load_time.py` (raw numbers: `bench/results/load_time.json`).", "",
             "Load = mmap + parse + prepare for batch 1 (`pbmem bench MODEL --batch 1`: shapes, "
             "constant folding, fusion, oneDNN primitives, weight packing with the BatchNorm scale "
             "folded in, memory-aware schedule and plan, binding), in a fresh process with the "
             "file in the page cache (\"warm\"). Nothing is deferred to the first run, which is "
             "timed separately. The second load is the same file loaded and planned again in the "
             "same process (Python module; oneDNN's primitive cache then skips JIT). TF = "
             "`GraphDef.ParseFromString` + `tf.import_graph_def` in a fresh process (its Session "
             "still has to optimise the graph and prepare kernels at the first run).", "",
             head, rule]
    for r in results:
        row = f"| {r['model']} | {r['file_bytes'] / 1e6:.0f} |"
        if has_baseline:
            b = r["baseline"]
            row += f" {b['load_ms']:.0f} ({b['parse_ms']:.0f} + {b['prepare_ms']:.0f}) |"
        p = r["pbmem"]
        row += (f" {p['load_ms']:.0f} ({p['parse_ms']:.0f} + {p['prepare_ms']:.0f}) |"
                f" {r['second_load']['second_load_ms']:.0f} | {p['first_run_ms']:.0f} |")
        if has_tf:
            t = r["tf"]
            row += f" {t['load_ms']:.0f} ({t['parse_ms']:.0f} + {t['import_ms']:.0f}) |"
        lines.append(row)
    goal = next((r for r in results if r["model"] == GOAL_MODEL), None)
    if goal:
        load = goal["pbmem"]["load_ms"]
        verdict = ("met" if load <= GOAL_MS else
                   f"not met: {load:.0f} ms, {load - GOAL_MS:.0f} ms ({load / GOAL_MS:.1f}x) over")
        lines += ["", f"Goal ({GOAL_MODEL}, {goal['file_bytes'] / 1e6:.0f} MB, loads in "
                      f"≤ {GOAL_MS:.0f} ms warm): {verdict}."]
    lines += ["", f"Command: `python3 bench/load_time.py {' '.join(sys.argv[1:])}`".rstrip() + "; "
              f"{args.repeats} interleaved rounds, {args.threads} threads, medians. Machine: "
              f"{platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}.",
              SECTION_END]
    return lines


def write_section(path, lines):
    text = open(path).read() if os.path.exists(path) else ""
    block = "\n".join(lines)
    if SECTION_BEGIN in text and SECTION_END in text:
        before = text[:text.index(SECTION_BEGIN)]
        after = text[text.index(SECTION_END) + len(SECTION_END):]
        text = before + block + after
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    csv = lambda text: [item.strip() for item in text.split(",") if item.strip()]  # noqa: E731
    parser.add_argument("--models", type=csv, default=DEFAULT_MODELS)
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS)
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pbmem", default=os.path.join(REPO_ROOT, "build", "pbmem"))
    parser.add_argument("--baseline", help="another pbmem binary, measured interleaved")
    parser.add_argument("--no-tf", action="store_true")
    parser.add_argument("--out", default=os.path.join(REPO_ROOT, "docs", "PERFORMANCE.md"))
    args = parser.parse_args()
    unknown = [m for m in args.models if m not in models.KERAS_MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; known: {list(models.KERAS_MODELS)}")
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    results = measure(args)
    os.makedirs(os.path.join(BENCH_DIR, "results"), exist_ok=True)
    with open(os.path.join(BENCH_DIR, "results", "load_time.json"), "w") as f:
        json.dump({"command": sys.argv, "threads": args.threads, "batch": args.batch,
                   "repeats": args.repeats, "results": results}, f, indent=1)
    lines = section(results, args)
    write_section(args.out, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
