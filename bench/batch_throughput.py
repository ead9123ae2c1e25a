#!/usr/bin/env python3
"""Batch throughput benchmark: `pbmem run --input-dir` samples/s and peak RSS against the batch.

    python3 bench/batch_throughput.py [--models mobilenet_v2,resnet50] [--batches 1,2,4,8,16,32]
                                      [--min-samples 8] [--batches-per-point 2] [--repeats 3]
                                      [--threads 1]

Every (model, batch) point runs in a fresh `pbmem` process over a directory of single-image .npy
files (synthetic images from tests/py/models.py, whose zoo cache it shares): --batches-per-point
batches' worth, at least --min-samples, so small batches are not timed on one sample and the
whole benchmark stays within minutes on a small machine.
Throughput is steady-state: samples of every batch after the first divided by their wall time
(from --stats-json "batches"[i]["seconds"]: reading, running and writing), so the first batch's
weight packing is left out; "first_batch_s" reports that batch alone. Peak RSS is the process's
VmHWM (--stats-json "peak_rss_bytes"). Each point is the median of --repeats runs, repeats
interleaved over batches since the machine is shared and noisy.

Writes bench/results/batch_throughput.json and docs/batch_throughput.svg (written by hand: no
plotting package needed); the table for docs/BATCH.md is printed.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "py"))
import models  # noqa: E402  (tests/py: the zoo builders and their cache)

DEFAULT_MODELS = ["mobilenet_v2", "resnet50"]
DEFAULT_BATCHES = [1, 2, 4, 8, 16, 32]
DEFAULT_MIN_SAMPLES = 8
DEFAULT_BATCHES_PER_POINT = 2  # the first batch packs the weights: at least one more is timed
DEFAULT_REPEATS = 3
# One thread: on a shared, oversubscribed machine OpenMP's barriers with two threads measure
# the other jobs more than pbmem.
DEFAULT_THREADS = 1
RUN_TIMEOUT_SECONDS = 600
MIB = 1024 * 1024
RESULTS = os.path.join(BENCH_DIR, "results", "batch_throughput.json")
SVG = os.path.join(REPO_ROOT, "docs", "batch_throughput.svg")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    csv = lambda text: [item.strip() for item in text.split(",") if item.strip()]  # noqa: E731
    parser.add_argument("--models", type=csv, default=DEFAULT_MODELS)
    parser.add_argument("--batches", type=lambda t: [int(b) for b in csv(t)], default=DEFAULT_BATCHES)
    parser.add_argument("--min-samples", type=int, default=DEFAULT_MIN_SAMPLES)
    parser.add_argument("--batches-per-point", type=int, default=DEFAULT_BATCHES_PER_POINT)
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--pbmem", default=os.environ.get("PBMEM_BIN", os.path.join(REPO_ROOT, "build", "pbmem")))
    args = parser.parse_args(argv)
    if args.batches_per_point < 2:
        parser.error("--batches-per-point must be >= 2 (the first batch is not steady state)")
    if not args.batches or min(args.batches) < 1:
        parser.error("--batches must be positive integers")
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    return args


def write_samples(model, directory, count):
    (name, shape), = [(n, s) for n, s in model.inputs.items() if n not in model.optional_inputs]
    images = models.synthetic_images(count, shape[1], model.input_ranges[name])
    for i in range(count):
        np.save(os.path.join(directory, f"sample_{i:04d}.npy"), images[i])


def samples_for(args, batch):
    return max(args.min_samples, args.batches_per_point * batch)


def point_dir(all_dir, work, count):
    """A directory with the first `count` sample files (symlinks)."""
    directory = os.path.join(work, f"in_{count}")
    if not os.path.isdir(directory):
        os.mkdir(directory)
        for name in sorted(os.listdir(all_dir))[:count]:
            os.symlink(os.path.join(all_dir, name), os.path.join(directory, name))
    return directory


def run_point(args, model, in_dir, batch, work):
    out_dir = os.path.join(work, f"out_{batch}")
    stats_path = os.path.join(work, f"stats_{batch}.json")
    cmd = [args.pbmem, "run", model.path, "--input-dir", in_dir, "--output-dir", out_dir,
           "--batch", str(batch), "--threads", str(args.threads), "--stats-json", stats_path]
    start = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS)
    wall = time.monotonic() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr[-600:]}")
    with open(stats_path) as f:
        stats = json.load(f)
    steady = stats["batches"][1:]
    return {"samples_per_s": sum(b["samples"] for b in steady) / sum(b["seconds"] for b in steady),
            "first_batch_s": stats["batches"][0]["seconds"],
            "peak_rss_bytes": stats["peak_rss_bytes"],
            "max_bytes_in_use": stats["max_bytes_in_use"],
            "steady_num_allocs": sum(b["num_allocs"] for b in steady),
            "process_s": wall}


def median_point(runs):
    keys = runs[0].keys()
    return {k: statistics.median(r[k] for r in runs) for k in keys} | {"runs": runs}


def svg_plot(results, batches):
    """Two panels (samples/s, peak RSS MiB) against the batch, one line per model."""
    width, height, margin, gap = 760, 320, 55, 70
    panel_w = (width - 2 * margin - gap) / 2
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    xs = {b: i for i, b in enumerate(batches)}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="11">', f'<rect width="{width}" height="{height}" fill="white"/>']
    for panel, (key, title, scale) in enumerate([("samples_per_s", "throughput (samples/s)", 1),
                                                 ("peak_rss_bytes", "peak RSS (MiB)", MIB)]):
        x0 = margin + panel * (panel_w + gap)
        y0, plot_h = 30, height - 30 - 65
        top = max(p[key] / scale for m in results.values() for p in m.values()) * 1.1
        out.append(f'<text x="{x0 + panel_w / 2}" y="18" text-anchor="middle" font-size="13">{title}</text>')
        out.append(f'<rect x="{x0}" y="{y0}" width="{panel_w}" height="{plot_h}" fill="none" stroke="#888"/>')
        for tick in range(5):
            value = top * tick / 4
            y = y0 + plot_h - plot_h * tick / 4
            out.append(f'<text x="{x0 - 5}" y="{y + 4}" text-anchor="end">{value:.0f}</text>')
            out.append(f'<line x1="{x0}" x2="{x0 + panel_w}" y1="{y}" y2="{y}" stroke="#eee"/>')
        for b, i in xs.items():
            x = x0 + panel_w * (i + 0.5) / len(xs)
            out.append(f'<text x="{x}" y="{y0 + plot_h + 15}" text-anchor="middle">{b}</text>')
        out.append(f'<text x="{x0 + panel_w / 2}" y="{y0 + plot_h + 32}" text-anchor="middle">batch</text>')
        for color, (name, points) in zip(colors, results.items()):
            coords = [(x0 + panel_w * (xs[int(b)] + 0.5) / len(xs), y0 + plot_h - plot_h * p[key] / scale / top)
                      for b, p in points.items()]
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="'
                       + " ".join(f"{x:.1f},{y:.1f}" for x, y in coords) + '"/>')
            for x, y in coords:
                out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>')
    for k, (color, name) in enumerate(zip(colors, results)):
        out.append(f'<rect x="{margin + 130 * k}" y="{height - 14}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{margin + 130 * k + 14}" y="{height - 5}">{name}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv=None):
    args = parse_args(argv)
    results = {}
    started = time.monotonic()
    load_at_start = os.getloadavg()[0]
    for name in args.models:
        model = models.get_model(name)
        with tempfile.TemporaryDirectory(prefix="pbmem-batch-bench-") as work:
            all_dir = os.path.join(work, "all")
            os.mkdir(all_dir)
            write_samples(model, all_dir, max(samples_for(args, b) for b in args.batches))
            runs = {b: [] for b in args.batches}
            for _ in range(args.repeats):
                for batch in args.batches:
                    in_dir = point_dir(all_dir, work, samples_for(args, batch))
                    runs[batch].append(run_point(args, model, in_dir, batch, work))
            results[name] = {str(b): median_point(r) for b, r in runs.items()}
        for b, p in results[name].items():
            print(f"{name:14s} batch {b:>3s}: {p['samples_per_s']:7.2f} samples/s, first batch "
                  f"{p['first_batch_s']:6.2f} s, peak RSS {p['peak_rss_bytes'] / MIB:7.1f} MiB, "
                  f"max_bytes_in_use {p['max_bytes_in_use'] / MIB:7.1f} MiB, steady allocs "
                  f"{p['steady_num_allocs']:.0f}", flush=True)
    document = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                "settings": {"samples": {str(b): samples_for(args, b) for b in args.batches},
                             "repeats": args.repeats, "threads": args.threads, "batches": args.batches},
                "load_average_at_start": load_at_start,
                "benchmark_seconds": round(time.monotonic() - started, 1),
                "results": results}
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump(document, f, indent=2)
    with open(SVG, "w") as f:
        f.write(svg_plot(results, args.batches))
    print("\n| model | batch | samples/s | first batch (s) | peak RSS (MiB) | max_bytes_in_use (MiB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, points in results.items():
        for b, p in points.items():
            print(f"| {name} | {b} | {p['samples_per_s']:.2f} | {p['first_batch_s']:.2f} | "
                  f"{p['peak_rss_bytes'] / MIB:.1f} | {p['max_bytes_in_use'] / MIB:.1f} |")
    print(f"\nwrote {RESULTS} and {SVG} in {document['benchmark_seconds']} s")


if __name__ == "__main__":
    main()
