"""One memory measurement in a fresh process: one engine, one model, one batch size.

Run by bench/memory.py, never imported. argv[1] is a JSON spec (see memory.py's _worker_spec).
Steps, so that every engine is measured the same way:
  1. import numpy and the engine's module, load the input array (same .npy for every engine);
  2. baseline = VmRSS; reset the peak (VmHWM) by writing "5" to /proc/self/clear_refs;
  3. load the model; read the load-phase peak; reset the peak again;
  4. one warm-up run; read its peak; reset; one measured run; read its peak;
  5. peak RSS - baseline = max(the three phases' peaks) - baseline. The measured run's own
     peak is the steady state (what a long-lived process holds per inference).
Engine-specific extras (TF's own memory API, OpenCV's memory estimate, pbmem's plan and stats)
are collected after the peaks are read, so they cannot inflate them. The last stdout line is
one JSON object; a failure is reported in it as "error" rather than as a traceback.
"""
import gc
import json
import os
import sys
import time

KB = 1024
CLEAR_REFS_RESET_PEAK = "5"  # Linux: resets VmHWM to the current RSS
# After a reset VmHWM may exceed VmRSS by what was touched in between (a few pages).
RESET_SLACK_BYTES = 1 << 20
ERROR_TEXT_LIMIT = 400


def read_status():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * KB
    return out


def reset_peak():
    """True if VmHWM was reset to the current RSS (checked, not assumed)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write(CLEAR_REFS_RESET_PEAK)
    except OSError:
        return False
    now = read_status()
    return now["VmHWM"] <= now["VmRSS"] + RESET_SLACK_BYTES


def short_error(exc):
    text = f"{type(exc).__name__}: {exc}".strip()
    first_lines = " ".join(text.splitlines()[:3])
    return first_lines[:ERROR_TEXT_LIMIT]


# --- engines: each returns (load, run) closures; run(model) returns the probabilities ---

def tf_engine(spec):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    v1 = tf.compat.v1
    threads = spec["threads"]
    feed_name = spec["input_name"] + ":0"
    fetch_name = spec["tf_output"] + ":0"

    def load():
        graph_def = v1.GraphDef()
        with open(spec["model_path"], "rb") as f:
            graph_def.ParseFromString(f.read())
        graph = tf.Graph()
        with graph.as_default():
            tf.import_graph_def(graph_def, name="")
        del graph_def
        config = v1.ConfigProto(intra_op_parallelism_threads=threads,
                                inter_op_parallelism_threads=threads)
        return v1.Session(graph=graph, config=config)

    def run(sess, x):
        return sess.run(fetch_name, {feed_name: x})

    def extras(sess, x):
        out = {"tf_version": tf.__version__}
        try:
            out["get_memory_info"] = {"value": tf.config.experimental.get_memory_info("CPU:0")}
        except Exception as e:  # expected on CPU: record TF's own words
            out["get_memory_info"] = {"error": short_error(e)}
        if spec.get("tf_trace"):
            out["trace"] = tf_trace_summary(v1, sess, fetch_name, feed_name, x)
        return out

    return load, run, extras


def tf_trace_summary(v1, sess, fetch_name, feed_name, x):
    """What a FULL_TRACE run's step stats say about memory (TF's per-node allocator records)."""
    options = v1.RunOptions(trace_level=v1.RunOptions.FULL_TRACE)
    metadata = v1.RunMetadata()
    sess.run(fetch_name, {feed_name: x}, options=options, run_metadata=metadata)
    total = peak_node = in_use = records = 0
    allocators = set()
    for device in metadata.step_stats.dev_stats:
        for node in device.node_stats:
            for mem in node.memory:
                records += 1
                allocators.add(mem.allocator_name)
                total += mem.total_bytes
                peak_node = max(peak_node, mem.peak_bytes)
                in_use = max(in_use, mem.allocator_bytes_in_use)
    return {"records": records, "allocators": sorted(allocators),
            "sum_total_bytes": total, "max_node_peak_bytes": peak_node,
            "max_allocator_bytes_in_use": in_use}


def ort_engine(spec):
    import onnxruntime as ort

    def load():
        options = ort.SessionOptions()
        options.intra_op_num_threads = spec["threads"]
        return ort.InferenceSession(spec["model_path"], sess_options=options,
                                    providers=["CPUExecutionProvider"])

    def run(sess, x):
        return sess.run([spec["ort_output"]], {spec["ort_input"]: x})[0]

    def extras(sess, x):
        return {"ort_version": ort.__version__}

    return load, run, extras


def opencv_engine(spec):
    import cv2
    import numpy as np
    cv2.setNumThreads(spec["threads"])

    def load():
        return cv2.dnn.readNetFromTensorflow(spec["model_path"])

    def run(net, x):
        # OpenCV's TensorFlow importer takes NCHW blobs and converts to the graph's NHWC itself.
        net.setInput(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        return net.forward()

    def extras(net, x):
        out = {"cv2_version": cv2.__version__,
               "output_layers": list(net.getUnconnectedOutLayersNames())}
        try:
            nchw = [x.shape[0], x.shape[3], x.shape[1], x.shape[2]]
            weights, blobs = net.getMemoryConsumption([nchw], [cv2.CV_32F])
            out["memory_consumption"] = {"weights_bytes": int(weights), "blobs_bytes": int(blobs)}
        except Exception as e:
            out["memory_consumption"] = {"error": short_error(e)}
        return out

    return load, run, extras


def pbmem_engine(spec):
    if spec.get("pbmem_pythonpath"):
        sys.path.insert(0, spec["pbmem_pythonpath"])
    import pbmem

    def load():
        return pbmem.load(spec["model_path"], threads=spec["threads"])

    def run(model, x):
        return model.run({spec["input_name"]: x}, outputs=[spec["tf_output"]])[spec["tf_output"]]

    def extras(model, x):
        out = {"module": os.path.dirname(pbmem.__file__)}
        for name, call in (("stats", lambda: model.stats()),
                           ("plan", lambda: model.plan(batch=x.shape[0],
                                                       outputs=[spec["tf_output"]]))):
            try:
                value = call()
                if isinstance(value, dict):
                    value = {k: v for k, v in value.items()
                             if k not in ("live_at_peak", "ascii_plan")}
                out[name] = value
            except Exception as e:  # the memory API may not exist in this build yet
                out[name] = {"error": short_error(e)}
        return out

    return load, run, extras


ENGINES = {"tf": tf_engine, "ort": ort_engine, "opencv": opencv_engine, "pbmem": pbmem_engine}


def measure(spec):
    import numpy as np
    result = {"engine": spec["engine"]}
    t0 = time.monotonic()
    load, run, extras = ENGINES[spec["engine"]](spec)
    result["import_seconds"] = round(time.monotonic() - t0, 2)
    x = np.load(spec["input_npy"])
    gc.collect()

    result["before_reset"] = read_status()
    result["hwm_reset"] = reset_peak()
    baseline = read_status()["VmRSS"]
    result["baseline_bytes"] = baseline

    t0 = time.monotonic()
    try:
        model = load()
    except Exception as e:
        result["error"] = "load: " + short_error(e)
        return result
    result["load_seconds"] = round(time.monotonic() - t0, 2)
    after_load = read_status()
    result["after_load_rss_bytes"] = after_load["VmRSS"]
    result["load_peak_bytes"] = after_load["VmHWM"]
    if result["hwm_reset"]:
        result["hwm_reset"] = reset_peak()

    t0 = time.monotonic()
    try:
        run(model, x)  # warm-up
        result["warmup_seconds"] = round(time.monotonic() - t0, 2)
        after_warmup = read_status()
        result["after_warmup_rss_bytes"] = after_warmup["VmRSS"]
        result["warmup_peak_bytes"] = after_warmup["VmHWM"]
        if result["hwm_reset"]:
            result["hwm_reset"] = reset_peak()
        t0 = time.monotonic()
        y = run(model, x)
    except Exception as e:
        result["error"] = "run: " + short_error(e)
        return result
    result["run_seconds"] = round(time.monotonic() - t0, 2)
    after_run = read_status()
    result["after_run_rss_bytes"] = after_run["VmRSS"]
    result["run_peak_bytes"] = after_run["VmHWM"]
    result["peak_delta_bytes"] = max(result["load_peak_bytes"], result["warmup_peak_bytes"],
                                     after_run["VmHWM"]) - baseline

    y = np.asarray(y)
    np.save(spec["output_npy"], y)
    result["output_shape"] = list(y.shape)
    try:
        result["extras"] = extras(model, x)
    except Exception as e:
        result["extras"] = {"error": short_error(e)}
    return result


def main(measure_spec=None):
    """Runs one measurement (this file's, or the latency worker's) on the JSON spec in argv[1]
    and prints its result as the last stdout line."""
    spec = json.loads(sys.argv[1])
    try:
        result = (measure_spec or measure)(spec)
    except Exception as e:  # report, don't crash: the parent tabulates the message
        result = {"engine": spec.get("engine"), "error": "worker: " + short_error(e)}
    sys.stdout.flush()
    print("\n" + json.dumps(result))


if __name__ == "__main__":
    main()
