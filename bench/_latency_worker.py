"""One latency measurement in a fresh process: one engine, one model, one batch size.

Run by bench/compare.py, never imported. argv[1] is a JSON spec (compare.py's worker_spec). It
builds the engine with bench/_memory_worker.py's ENGINES (the same load/run code the memory
benchmark uses), then times: load, the first run (where engines prepare: graph optimisation,
weight packing), `warmup` more runs, and `runs` timed runs one by one with a monotonic clock.
The last stdout line is one JSON object; a failure is reported in it as "error".
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _memory_worker import ENGINES, short_error, main as worker_main  # noqa: E402


def measure(spec):
    import numpy as np
    result = {"engine": spec["engine"]}
    load, run, _ = ENGINES[spec["engine"]](spec)
    x = np.load(spec["input_npy"])
    t0 = time.perf_counter()
    try:
        model = load()
    except Exception as e:
        result["error"] = "load: " + short_error(e)
        return result
    result["load_ms"] = (time.perf_counter() - t0) * 1e3
    try:
        t0 = time.perf_counter()
        y = run(model, x)
        result["first_run_ms"] = (time.perf_counter() - t0) * 1e3
        for _ in range(spec["warmup"]):
            run(model, x)
        times = []
        for _ in range(spec["runs"]):
            t0 = time.perf_counter()
            run(model, x)
            times.append((time.perf_counter() - t0) * 1e3)
    except Exception as e:
        result["error"] = "run: " + short_error(e)
        return result
    result["run_ms"] = times
    if spec.get("output_npy"):
        np.save(spec["output_npy"], np.asarray(y))
    return result


if __name__ == "__main__":
    worker_main(measure)
