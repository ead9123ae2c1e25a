"""Seeded random DAGs of supported ops, built with TensorFlow (tf.compat.v1), for property tests.

`build(seed)` grows a graph from one or two placeholders with an unknown batch dim: each step
picks an op (conv, depthwise conv, pooling, elementwise with and without broadcasting, concat,
split, reshape, matmul, softmax, pad, transpose, batch norm, ...) and inputs from the tensors made
so far, favouring recent ones (long chains) but often reaching back (branches, and joins when
two tensors of matching shape meet). Outputs are every tensor nothing consumes plus, sometimes,
an intermediate that later ops also read (graph outputs must never be reused in place).

Every tensor keeps the batch as dim 0 and a static shape for the other dims, so that any batch
size can be fed. Weights are scaled by 1/sqrt(fan-in) so values stay O(1) through deep chains.
"""
import dataclasses
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

import tfcheck

# Graph size (ops added after the placeholders).
MIN_OPS = 6
MAX_OPS = 24
# Static dims of the image input and of the optional vector input.
SPATIAL_RANGE = (4, 13)      # H and W, inclusive
CHANNEL_RANGE = (1, 6)
FEATURE_RANGE = (2, 12)
# Tensors never grow past these (concat/pad/matmul stop being chosen).
MAX_CHANNELS = 24
MAX_SPATIAL = 20
MAX_FEATURES = 64
# Probability of a second (vector) input, and of exporting a consumed intermediate too.
SECOND_INPUT_PROB = 0.4
EXTRA_OUTPUT_PROB = 0.5
# Recent tensors are this many times likelier to be picked than the first one.
RECENCY_BIAS = 4.0
# Tensors nothing reads yet are this many times likelier (fewer, deeper outputs).
UNUSED_BIAS = 3.0


@dataclasses.dataclass
class Entry:
    """A tensor of the graph under construction. dims exclude the batch (dim 0)."""
    tensor: object
    dims: Tuple[int, ...]
    uses: int = 0
    is_input: bool = False

    @property
    def rank(self) -> int:
        return len(self.dims) + 1


@dataclasses.dataclass
class RandomGraph:
    seed: int
    path: str                                # the frozen .pb in the test cache
    inputs: Dict[str, Tuple[Optional[int], ...]]  # placeholder -> shape (None: batch)
    outputs: List[str]                       # tensor names ("node:port")
    op_types: List[str]                      # the ops chosen, in order (for messages)
    graph: object                            # the tf.Graph, to run the oracle

    def feeds(self, batch: int, seed: int = 0) -> Dict[str, np.ndarray]:
        gen = np.random.default_rng([self.seed, batch, seed])
        return {name: gen.uniform(-1.0, 1.0, size=(batch,) + tuple(shape[1:])).astype(np.float32)
                for name, shape in self.inputs.items()}

    def run_tf(self, feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
        tf = tfcheck._tf()
        with tf.compat.v1.Session(graph=self.graph) as sess:
            return sess.run(self.outputs, {name + ":0": value for name, value in feeds.items()})

    def describe(self) -> str:
        return (f"random graph seed={self.seed} ({self.path}): inputs {self.inputs}, "
                f"outputs {self.outputs}, ops {self.op_types}")


class _Builder:
    def __init__(self, seed: int):
        self.tf = tfcheck._tf()
        self.gen = np.random.default_rng(seed)
        self.pool: List[Entry] = []
        self.op_types: List[str] = []

    # --- helpers ---------------------------------------------------------------------------

    def randint(self, lo: int, hi: int) -> int:
        """Uniform in [lo, hi] inclusive."""
        return int(self.gen.integers(lo, hi + 1))

    def chance(self, p: float) -> bool:
        return bool(self.gen.random() < p)

    def choice(self, items):
        return items[int(self.gen.integers(len(items)))]

    def const(self, shape, scale: float = 1.0):
        value = self.gen.normal(0.0, scale, size=shape).astype(np.float32)
        return self.tf.constant(value)

    def pick(self, predicate: Callable[[Entry], bool] = lambda e: True) -> Optional[Entry]:
        candidates = [i for i, e in enumerate(self.pool) if predicate(e)]
        if not candidates:
            return None
        weights = np.array([(1.0 + RECENCY_BIAS * i / max(1, len(self.pool) - 1)) *
                            (UNUSED_BIAS if self.pool[i].uses == 0 else 1.0)
                            for i in candidates])
        picked = int(self.gen.choice(len(candidates), p=weights / weights.sum()))
        return self.pool[candidates[picked]]

    def add(self, op: str, tensor, dims, *used: Entry) -> Entry:
        for e in used:
            e.uses += 1
        entry = Entry(tensor, tuple(int(d) for d in dims))
        self.pool.append(entry)
        self.op_types.append(op)
        return entry

    @staticmethod
    def is_image(e: Entry) -> bool:
        return e.rank == 4

    # --- ops (each returns False when it does not apply to the current pool) ----------------

    def conv(self) -> bool:
        tf = self.tf
        x = self.pick(self.is_image)
        if x is None:
            return False
        h, w, c = x.dims
        k = self.randint(1, 3)
        stride = self.randint(1, 2)
        padding = "VALID" if self.chance(0.4) and min(h, w) >= k else "SAME"
        cout = self.randint(1, 8)
        weights = self.const((k, k, c, cout), 1.0 / np.sqrt(k * k * c))
        y = tf.nn.conv2d(x.tensor, weights, strides=stride, padding=padding)
        if padding == "SAME":
            oh, ow = -(-h // stride), -(-w // stride)
        else:
            oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
        if self.chance(0.5):
            y = tf.nn.bias_add(y, self.const((cout,), 0.1))
        if self.chance(0.5):
            y = tf.nn.relu(y)
        self.add("Conv2D", y, (oh, ow, cout), x)
        return True

    def depthwise(self) -> bool:
        tf = self.tf
        x = self.pick(self.is_image)
        if x is None:
            return False
        h, w, c = x.dims
        k = self.choice([1, 3])
        stride = self.randint(1, 2)
        padding = "VALID" if self.chance(0.4) and min(h, w) >= k else "SAME"
        multiplier = self.randint(1, 2)
        if c * multiplier > MAX_CHANNELS:
            multiplier = 1
        weights = self.const((k, k, c, multiplier), 1.0 / k)
        y = tf.nn.depthwise_conv2d(x.tensor, weights, strides=[1, stride, stride, 1],
                                   padding=padding)
        if padding == "SAME":
            oh, ow = -(-h // stride), -(-w // stride)
        else:
            oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
        self.add("DepthwiseConv2dNative", y, (oh, ow, c * multiplier), x)
        return True

    def unary(self) -> bool:
        tf = self.tf
        x = self.pick()
        ops = {"Relu": tf.nn.relu, "Relu6": tf.nn.relu6, "Tanh": tf.tanh,
               "Sigmoid": tf.sigmoid, "Elu": tf.nn.elu, "Abs": tf.abs, "Neg": tf.negative,
               "LeakyRelu": lambda t: tf.nn.leaky_relu(t, alpha=0.1)}
        name = self.choice(sorted(ops))
        self.add(name, ops[name](x.tensor), x.dims, x)
        return True

    def binary(self) -> bool:
        """Same-shape join of two tensors (a partner of equal shape, else x with itself)."""
        tf = self.tf
        x = self.pick()
        partner = self.pick(lambda e: e is not x and e.dims == x.dims)
        y = partner if partner is not None else x
        ops = {"AddV2": tf.add, "Sub": tf.subtract, "Mul": tf.multiply,
               "Maximum": tf.maximum, "Minimum": tf.minimum,
               "SquaredDifference": tf.math.squared_difference}
        name = self.choice(sorted(ops))
        a, b = (x, y) if self.chance(0.5) else (y, x)
        self.add(name, ops[name](a.tensor, b.tensor), x.dims, a, b)
        return True

    def broadcast(self) -> bool:
        """x op smaller-tensor: a constant of trailing dims, or a per-sample pooled tensor."""
        tf = self.tf
        x = self.pick()
        ops = {"AddV2": tf.add, "Sub": tf.subtract, "Mul": tf.multiply, "Maximum": tf.maximum}
        name = self.choice(sorted(ops))
        used = [x]
        if self.is_image(x) and self.chance(0.4):
            # [N,1,1,C] from this or another image tensor with the same channel count.
            other = self.pick(lambda e: self.is_image(e) and e.dims[-1] == x.dims[-1]) or x
            other_t = tf.reduce_mean(other.tensor, axis=[1, 2], keepdims=True)
            if other is not x:
                used.append(other)
        else:
            ndims = self.randint(1, len(x.dims))
            shape = list(x.dims[len(x.dims) - ndims:])
            for i in range(len(shape)):
                if self.chance(0.3):
                    shape[i] = 1
            other_t = self.const(tuple(shape), 0.5)
        a, b = (x.tensor, other_t) if self.chance(0.6) else (other_t, x.tensor)
        self.add(name, ops[name](a, b), x.dims, *used)
        return True

    def concat(self) -> bool:
        tf = self.tf
        x = self.pick()
        axis = len(x.dims)  # last axis
        if self.is_image(x) and self.chance(0.3):
            axis = self.randint(1, 2)
        def fits(e):
            return (e is not x and len(e.dims) == len(x.dims) and
                    all(d == xd for i, (d, xd) in enumerate(zip(e.dims, x.dims)) if i != axis - 1))
        y = self.pick(fits) or x
        dims = list(x.dims)
        dims[axis - 1] += y.dims[axis - 1]
        limit = MAX_CHANNELS if axis == len(x.dims) and self.is_image(x) else (
            MAX_SPATIAL if self.is_image(x) else MAX_FEATURES)
        if dims[axis - 1] > limit:
            return False
        axis_arg = axis - len(dims) - 1 if self.chance(0.3) else axis  # negative axes too
        self.add("ConcatV2", tf.concat([x.tensor, y.tensor], axis=axis_arg), dims, x, y)
        return True

    def pooling(self) -> bool:
        tf = self.tf
        x = self.pick(self.is_image)
        if x is None:
            return False
        h, w, c = x.dims
        k = self.randint(2, 3)
        stride = self.randint(1, 2)
        padding = "VALID" if self.chance(0.5) and min(h, w) >= k else "SAME"
        if self.chance(0.5):
            fn, name = tf.nn.max_pool2d, "MaxPool"
        else:
            fn, name = tf.nn.avg_pool2d, "AvgPool"
        y = fn(x.tensor, ksize=k, strides=stride, padding=padding)
        if padding == "SAME":
            oh, ow = -(-h // stride), -(-w // stride)
        else:
            oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
        self.add(name, y, (oh, ow, c), x)
        return True

    def reduce(self) -> bool:
        tf = self.tf
        x = self.pick()
        keepdims = self.chance(0.5)
        if self.is_image(x) and self.chance(0.7):
            axes = [1, 2]
        else:
            axes = [-1]
        fn, name = self.choice([(tf.reduce_mean, "Mean"), (tf.reduce_max, "Max"),
                                (tf.reduce_sum, "Sum")])
        y = fn(x.tensor, axis=axes, keepdims=keepdims)
        rank = len(x.dims)
        reduced = {(a if a > 0 else a + rank + 1) - 1 for a in axes}
        dims = [1 if i in reduced else d for i, d in enumerate(x.dims)
                if keepdims or i not in reduced]
        if not dims:  # [N] alone: keep a feature dim
            y = tf.expand_dims(y, -1)
            dims = [1]
        self.add(name, y, dims, x)
        return True

    def reshape(self) -> bool:
        tf = self.tf
        x = self.pick()
        size = int(np.prod(x.dims))
        if self.is_image(x):
            if self.chance(0.5) and size <= MAX_FEATURES * 4:
                dims = (size,)
            else:  # fold W into C
                dims = (x.dims[0], 1, x.dims[1] * x.dims[2])
        else:
            options = [(1, 1, size), (size,)]
            if size % 2 == 0:
                options.append((size // 2, 2, 1))
            dims = self.choice(options)
        self.add("Reshape", tf.reshape(x.tensor, (-1,) + tuple(dims)), dims, x)
        return True

    def squeeze(self) -> bool:
        x = self.pick(lambda e: self.is_image(e) and e.dims[0] == 1 and e.dims[1] == 1)
        if x is None:
            return False
        self.add("Squeeze", self.tf.squeeze(x.tensor, axis=[1, 2]), (x.dims[2],), x)
        return True

    def identity(self) -> bool:
        x = self.pick()
        self.add("Identity", self.tf.identity(x.tensor), x.dims, x)
        return True

    def matmul(self) -> bool:
        tf = self.tf
        x = self.pick(lambda e: e.rank == 2)
        if x is None:
            return False
        f = x.dims[0]
        g = self.randint(1, 16)
        y = tf.matmul(x.tensor, self.const((f, g), 1.0 / np.sqrt(f)))
        if self.chance(0.5):
            y = tf.nn.bias_add(y, self.const((g,), 0.1))
        if self.chance(0.4):
            y = tf.nn.relu(y)
        self.add("MatMul", y, (g,), x)
        return True

    def bias_add(self) -> bool:
        x = self.pick()
        y = self.tf.nn.bias_add(x.tensor, self.const((x.dims[-1],), 0.3))
        self.add("BiasAdd", y, x.dims, x)
        return True

    def softmax(self) -> bool:
        x = self.pick()
        self.add("Softmax", self.tf.nn.softmax(x.tensor), x.dims, x)
        return True

    def pad(self) -> bool:
        x = self.pick(self.is_image)
        if x is None or max(x.dims[0], x.dims[1]) + 4 > MAX_SPATIAL:
            return False
        top, bottom, left, right = (self.randint(0, 2) for _ in range(4))
        y = self.tf.pad(x.tensor, [[0, 0], [top, bottom], [left, right], [0, 0]])
        h, w, c = x.dims
        self.add("Pad", y, (h + top + bottom, w + left + right, c), x)
        return True

    def transpose(self) -> bool:
        x = self.pick(self.is_image)
        if x is None:
            return False
        perm = self.choice([(0, 2, 1, 3), (0, 3, 1, 2), (0, 1, 3, 2)])
        dims = tuple(x.dims[p - 1] for p in perm[1:])
        self.add("Transpose", self.tf.transpose(x.tensor, perm), dims, x)
        return True

    def split(self) -> bool:
        x = self.pick(lambda e: e.dims[-1] % 2 == 0 or e.dims[-1] % 3 == 0)
        if x is None:
            return False
        c = x.dims[-1]
        n = 2 if c % 2 == 0 and (c % 3 != 0 or self.chance(0.5)) else 3
        parts = self.tf.split(x.tensor, n, axis=-1)
        x.uses += 1
        for part in parts:
            self.pool.append(Entry(part, x.dims[:-1] + (c // n,)))
        self.op_types.append("Split")
        return True

    def batch_norm(self) -> bool:
        tf = self.tf
        x = self.pick(self.is_image)
        if x is None:
            return False
        c = x.dims[-1]
        scale = tf.constant(self.gen.uniform(0.5, 1.5, c).astype(np.float32))
        offset = tf.constant(self.gen.uniform(-0.2, 0.2, c).astype(np.float32))
        mean = tf.constant(self.gen.uniform(-0.2, 0.2, c).astype(np.float32))
        variance = tf.constant(self.gen.uniform(0.5, 2.0, c).astype(np.float32))
        y, _, _ = tf.compat.v1.nn.fused_batch_norm(x.tensor, scale, offset, mean, variance,
                                                   epsilon=1e-3, is_training=False)
        self.add("FusedBatchNormV3", y, x.dims, x)
        return True

    OPS = ("conv", "depthwise", "unary", "binary", "broadcast", "concat", "pooling", "reduce",
           "reshape", "squeeze", "identity", "matmul", "bias_add", "softmax", "pad",
           "transpose", "split", "batch_norm")
    # Relative frequency: elementwise ops (in-place candidates) and joins are the interesting
    # cases for the planner, convs for scratch and packed weights.
    WEIGHTS = (3, 2, 4, 4, 3, 2, 2, 1, 1, 1, 1, 2, 2, 1, 1, 1, 1, 1)


def build(seed: int) -> RandomGraph:
    """The random graph of `seed` (same seed, same graph), saved into the test cache."""
    b = _Builder(seed)
    tf = b.tf
    graph = tf.Graph()
    inputs: Dict[str, Tuple[Optional[int], ...]] = {}
    with graph.as_default():
        h, w = b.randint(*SPATIAL_RANGE), b.randint(*SPATIAL_RANGE)
        c = b.randint(*CHANNEL_RANGE)
        image = tf.compat.v1.placeholder(tf.float32, [None, h, w, c], name="image")
        inputs["image"] = (None, h, w, c)
        b.pool.append(Entry(image, (h, w, c), is_input=True))
        if b.chance(SECOND_INPUT_PROB):
            f = b.randint(*FEATURE_RANGE)
            vector = tf.compat.v1.placeholder(tf.float32, [None, f], name="vector")
            inputs["vector"] = (None, f)
            b.pool.append(Entry(vector, (f,), is_input=True))
        num_ops = b.randint(MIN_OPS, MAX_OPS)
        weights = np.array(_Builder.WEIGHTS, float)
        added = 0
        while added < num_ops:
            op = _Builder.OPS[int(b.gen.choice(len(_Builder.OPS), p=weights / weights.sum()))]
            if getattr(b, op)():
                added += 1
        sinks = [e for e in b.pool if e.uses == 0 and not e.is_input]
        consumed = [e for e in b.pool if e.uses > 0 and not e.is_input]
        chosen = list(sinks)
        if consumed and b.chance(EXTRA_OUTPUT_PROB):
            chosen.append(b.choice(consumed))
        outputs = [e.tensor.name for e in chosen]
    data = graph.as_graph_def().SerializeToString()
    path = tfcheck.save_graph_bytes(data, f"randgraph{seed}")
    return RandomGraph(seed=seed, path=path, inputs=inputs, outputs=outputs,
                       op_types=b.op_types, graph=graph)


if __name__ == "__main__":
    import sys
    for s in (int(a) for a in sys.argv[1:] or ["0"]):
        print(build(s).describe())
