"""pbmem: run frozen TensorFlow models (.pb GraphDef files) on the CPU.

    m = pbmem.load("model.pb", threads=0)
    m.inputs       # [TensorSpec(name='x', dtype=dtype('float32'), shape=(None, 224, 224, 3))]
    out = m.run({"x": x})                       # {'probs': array(...)}
    out = m.run({"x:0": x}, outputs=["logits:0", "probs"])
    p = m.plan(batch=16)     # predicted_peak_bytes, arena_bytes, ... without running
    m.max_bytes_in_use()     # of the last run() (TF's MaxBytesInUse); m.stats() for the rest

Every failure raises pbmem.Error (a RuntimeError) naming the file, node, op, input or argument
at fault. Inputs must have exactly the placeholder's dtype (no silent casting); outputs are new
NumPy arrays keyed by the names they were requested with. See docs/PYTHON_API.md.
"""
import collections
import collections.abc
import contextlib
import os

from . import _pbmem

Error = _pbmem.Error
__version__ = _pbmem.__version__

_MAX_THREADS = 2**31 - 1
_MAX_DIM = 2**63 - 1
_MAX_BYTES = 2**63 - 1

__all__ = ["Error", "Model", "TensorSpec", "load", "supported_ops", "__version__"]

TensorSpec = collections.namedtuple("TensorSpec", ["name", "dtype", "shape"])
TensorSpec.__doc__ = """An input or output: name, numpy dtype (None if NumPy has no equivalent)
and shape (a tuple with None for unknown dims, or None when even the rank is unknown)."""


def _specs(raw):
    return [TensorSpec(*item) for item in raw]


def _check_name(value, what):
    if not isinstance(value, str):
        raise Error(f"{what} must be a str, got {type(value).__name__}")
    return value


def _output_names(outputs):
    if outputs is None:
        return []
    if isinstance(outputs, str):
        return [outputs]
    try:
        names = list(outputs)
    except TypeError:
        raise Error(f"outputs must be a list of names, got {type(outputs).__name__}") from None
    return [_check_name(n, "each output name") for n in names]


def _int_in_range(value, what, low, high, rule):
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise Error(f"{what} must be an int, got {type(value).__name__}")
    value = int(value)
    if value < low:
        raise Error(f"{what} must be {rule}, got {value}")
    if value > high:
        raise Error(f"{what} must be at most {high}, got {value}")
    return value


def _input_shapes(input_shapes):
    if input_shapes is None:
        return {}
    if not isinstance(input_shapes, collections.abc.Mapping):
        raise Error(f"input_shapes must be a dict name -> shape, got {type(input_shapes).__name__}")
    shapes = {}
    for name, dims in input_shapes.items():
        _check_name(name, "each input_shapes key")
        try:
            dims = tuple(dims)
        except TypeError:
            raise Error(f"input_shapes['{name}'] must be a sequence of ints, got "
                        f"{type(dims).__name__}") from None
        for d in dims:
            if isinstance(d, bool) or not hasattr(d, "__index__") or not 0 <= int(d) <= _MAX_DIM:
                raise Error(f"input_shapes['{name}'] must hold non-negative ints, got {dims!r}")
        shapes[name] = [int(d) for d in dims]
    return shapes


def _memory_limit(value, what, allow_none):
    """An int of bytes or a size string ("512MiB", "1.5G", "64MB": see pbmem fit --help)."""
    if isinstance(value, str):
        return _pbmem.parse_byte_size(value, what)
    low, rule = (0, ">= 0 bytes (0 = none)") if allow_none else (1, "> 0 bytes")
    return _int_in_range(value, what, low, _MAX_BYTES, rule)


def _trace_path(trace):
    """trace= as a path whose directory exists and that is not a directory (checked before the
    run, so a bad path costs no run)."""
    try:
        path = os.fspath(trace)
    except TypeError:
        raise Error(f"trace must be a file path, got {type(trace).__name__}") from None
    if not isinstance(path, str) or not path:
        raise Error(f"trace must be a non-empty file path, got {trace!r}")
    parent = os.path.dirname(path)
    if parent and not os.path.isdir(parent):
        raise Error(f"trace '{path}': directory '{parent}' does not exist")
    if os.path.isdir(path):
        raise Error(f"trace '{path}' is a directory; give a file name such as "
                    f"{os.path.join(path, 'trace.json')}")
    return path


def _write_atomically(path, text, what):
    """Writes next to `path` and renames over it: a reader never sees half a file."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise Error(f"{what} '{path}': cannot write: {e.strerror or e}") from None


class Model:
    """A loaded model. Create it with pbmem.load()."""

    def __init__(self, impl):
        self._impl = impl

    @property
    def path(self):
        return self._impl.path

    @property
    def threads(self):
        return self._impl.threads

    @property
    def memory_limit(self):
        return self._impl.memory_limit

    @property
    def weights(self):
        """'packed' or 'mapped', as given to pbmem.load()."""
        return self._impl.weights

    @property
    def inputs(self):
        """The model's Placeholders, in file order."""
        return _specs(self._impl.inputs())

    @property
    def outputs(self):
        """The default outputs (the graph's sinks)."""
        return _specs(self._impl.outputs())

    def run(self, feeds, outputs=None, input_shapes=None, trace=None):
        """Runs the model. feeds: dict name ("x" or "x:0") -> array-like of the input's dtype.
        outputs: names to compute (default: the sinks). Returns {name: numpy array}.
        trace: a file path; after a successful run, a Chrome trace of it is written there (as
        `pbmem run --trace`: one event per op, bytes in use as counters)."""
        if not isinstance(feeds, collections.abc.Mapping):
            raise Error(f"feeds must be a dict name -> array, got {type(feeds).__name__}")
        feed_dict = {_check_name(name, "each feed name"): value for name, value in feeds.items()}
        if trace is None:
            return self._impl.run(feed_dict, _output_names(outputs), _input_shapes(input_shapes))
        path = _trace_path(trace)
        out, text = self._impl.run_traced(feed_dict, _output_names(outputs),
                                          _input_shapes(input_shapes))
        _write_atomically(path, text, "trace")
        return out

    def plan(self, input_shapes=None, batch=None, outputs=None):
        """Prepares for these input shapes without running and returns the memory plan (a dict
        with the keys of `pbmem plan --json`): predicted_peak_bytes (= weights_packed_bytes +
        arena_bytes + scratch_bytes + io_bytes), lower_bound_bytes, naive_bytes, weights_bytes,
        weights_mapped_bytes, peak_step, peak_node, live_at_peak, input_shapes, ...

        input_shapes: {name: dims} for inputs with unknown dims; batch: the first dim of every
        input whose first dim is unknown (input_shapes override it). A later run() with the same
        shapes and outputs (and no input_shapes of its own) uses this plan, so then
        max_bytes_in_use() == predicted_peak_bytes."""
        batch = 0 if batch is None else _int_in_range(batch, "batch", 1, _MAX_DIM, ">= 1")
        return self._impl.plan(_output_names(outputs), _input_shapes(input_shapes), batch)

    def fit(self, memory_limit, input_shapes=None, outputs=None):
        """The largest batch whose predicted peak fits memory_limit (an int of bytes or a size
        string such as "512MiB" or "2G"), found from the memory plan without running: a dict with
        max_batch (0 when even batch 1 does not fit), peak_bytes_at_max, peak_bytes_at_next
        (batch max_batch + 1), memory_limit, peak_bytes_at_1 and batched_inputs. The batch is the
        first dim of every input whose first dim is unknown; input_shapes gives other dims (the
        first dim of a batched input is searched, whatever value it has there)."""
        limit = _memory_limit(memory_limit, "memory_limit", allow_none=False)
        return self._impl.fit(limit, _output_names(outputs), _input_shapes(input_shapes))

    def stats(self):
        """Memory stats of the last run() (TF's AllocatorStats names): max_bytes_in_use,
        bytes_in_use, bytes_limit, num_allocs, largest_alloc_size, predicted_peak_bytes,
        weights_mapped_bytes, by_category (each category's peak during the run) and lifetime
        (the session's AllocatorStats since it was created)."""
        return self._impl.stats()

    def max_bytes_in_use(self):
        """The peak bytes pbmem held during the last run() (TF's MaxBytesInUse)."""
        return self._impl.max_bytes_in_use()

    def bytes_in_use(self):
        """The bytes pbmem held at the end of the last run() (TF's BytesInUse)."""
        return self._impl.bytes_in_use()

    def bytes_limit(self):
        """The session's allocation limit in bytes (TF's BytesLimit)."""
        return self._impl.bytes_limit()

    def summary(self):
        """A dict: path, file_bytes, num_nodes, inputs, outputs, op_histogram (op -> count, most
        frequent first), num_params, weight_bytes, unsupported."""
        s = self._impl.summary()
        s["inputs"] = _specs(s["inputs"])
        s["outputs"] = _specs(s["outputs"])
        return s

    def __repr__(self):
        return f"<pbmem.Model '{self.path}' inputs={self.inputs} outputs={self.outputs}>"


def load(path, threads=0, memory_limit=0, weights="packed"):
    """Loads a frozen GraphDef. threads: worker threads for run(), 0 = all cores.
    memory_limit: most bytes a session may allocate, as an int (0 = none) or a size string
    ("512MiB", "1.5GiB" binary; "64MB", "2G", "512k" decimal); a plan over it fails before
    anything runs, with the largest batch that fits in the message.
    weights: "packed" (constant conv/matmul weights reordered into oneDNN's layout, a copy we
    allocate) or "mapped" (read in place from the mapped file where oneDNN allows it; plan()
    and stats() count weights_mapped_bytes / weights_packed_bytes)."""
    try:
        path = os.fspath(path)
    except TypeError:
        raise Error(f"path must be a str or os.PathLike, got {type(path).__name__}") from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise Error(f"threads must be an int, got {type(threads).__name__}")
    if not 0 <= threads <= _MAX_THREADS:
        raise Error(f"threads must be >= 0 (0 = all cores), got {threads}")
    memory_limit = _memory_limit(memory_limit, "memory_limit", allow_none=True)
    if weights not in ("packed", "mapped"):
        raise Error(f"weights must be 'packed' or 'mapped', got {weights!r}")
    return Model(_pbmem.load(path, threads, memory_limit, weights))


def supported_ops():
    """The TensorFlow op types pbmem can run, sorted."""
    return list(_pbmem.supported_ops())
