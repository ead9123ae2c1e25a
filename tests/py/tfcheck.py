"""Shared helpers for conformance tests: build a graph with TensorFlow (the oracle), freeze it,
run it in TF and in pbmem on the same inputs, and compare.

"Matches" means max|pbmem - TF| <= tol * max(1, max|TF|) for every output (tol = 1e-4), and
exact equality for integer and bool outputs.

Graphs are cached under PBMEM_TEST_CACHE (default tests/.graph_cache), keyed by content hash.
"""
import hashlib
import os

# TF's reference kernels are the oracle: oneDNN's graph rewrites change results in the last bits.
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"

import numpy as np

TOL = 1e-4
CACHE_DIR = os.environ.get(
    "PBMEM_TEST_CACHE", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".graph_cache"))


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf  # imported lazily: collection must not pay for it
    return tf


def save_graph_bytes(data: bytes, stem: str = "graph") -> str:
    """Writes serialized GraphDef bytes into the cache and returns the path."""
    os.makedirs(CACHE_DIR, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()[:16]
    path = os.path.join(CACHE_DIR, f"{stem}-{digest}.pb")
    if not os.path.exists(path):
        tmp = path + f".tmp{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return path


def build_tf1_graph(build_fn, inputs, dynamic_batch=False):
    """Builds a tf.compat.v1 graph.

    build_fn(**placeholders) returns a tensor or a list/tuple of tensors. `inputs` maps a
    placeholder name to a numpy array (its dtype and shape define the placeholder; with
    dynamic_batch the first dim is None). Returns (graph_def_bytes, output_names, tf_results).
    """
    tf = _tf()
    graph = tf.Graph()
    with graph.as_default():
        placeholders = {}
        for name, value in inputs.items():
            shape = list(np.shape(value))
            if dynamic_batch and shape:
                shape[0] = None
            placeholders[name] = tf.compat.v1.placeholder(
                tf.as_dtype(np.asarray(value).dtype), shape=shape, name=name)
        outs = build_fn(**placeholders)
        if not isinstance(outs, (list, tuple)):
            outs = [outs]
        # A named Identity per output gives stable, readable output names.
        outs = [tf.identity(o, name=f"out{i}") for i, o in enumerate(outs)]
        with tf.compat.v1.Session(graph=graph) as sess:
            results = sess.run(outs, {placeholders[n]: v for n, v in inputs.items()})
        graph_def = graph.as_graph_def()
    return graph_def.SerializeToString(), [o.name for o in outs], results


def assert_matches(got, want, name="output", tol=TOL):
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"{name}: shape {got.shape} != TF's {want.shape}"
    assert got.dtype == want.dtype, f"{name}: dtype {got.dtype} != TF's {want.dtype}"
    if want.dtype.kind in "fc":
        if want.size == 0:
            return
        finite = np.isfinite(want)
        assert np.array_equal(np.isfinite(got), finite), f"{name}: non-finite values differ"
        if not finite.any():
            return
        err = float(np.max(np.abs(got[finite].astype(np.float64) - want[finite].astype(np.float64))))
        scale = max(1.0, float(np.max(np.abs(want[finite]))))
        assert err <= tol * scale, f"{name}: max|pbmem-TF| = {err:.3g} > {tol}*{scale:.3g}"
    else:
        assert np.array_equal(got, want), f"{name}: values differ from TF's"


def check_against_tf(build_fn, inputs, dynamic_batch=False, tol=TOL, stem="op"):
    """Builds with TF, runs TF and pbmem, compares every output. Returns the graph path."""
    import pbmem
    data, names, want = build_tf1_graph(build_fn, inputs, dynamic_batch=dynamic_batch)
    path = save_graph_bytes(data, stem)
    model = pbmem.load(path)
    got = model.run({k: np.asarray(v) for k, v in inputs.items()}, outputs=names)
    for name, w in zip(names, want):
        assert name in got, f"pbmem returned {sorted(got)} without {name}"
        assert_matches(got[name], w, name=name, tol=tol)
    return path


def rng(seed=0):
    return np.random.default_rng(seed)
