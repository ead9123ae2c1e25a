"""Whole-model fixtures: Keras applications and a TF1-style graph, frozen into .pb files.

Each model is built once per machine and TF/Keras version and cached in tfcheck.CACHE_DIR: the
.pb (named by content hash via tfcheck.save_graph_bytes) plus a JSON sidecar keyed by model name
and versions that records the tensor names, the op types and how long the build took.

Keras models use random weights (weights=None, seeded). BatchNorm gamma/beta are drawn at random
and the moving statistics calibrated on a synthetic batch (see _calibrate_batchnorm), so that
activations keep unit scale and the outputs really depend on the input; test inputs are synthetic
images that differ per sample (see synthetic_images). Each frozen graph has two outputs: the
pre-softmax logits and the softmax probabilities; tests also compare the feature map that enters
the final global pooling ("features"), where an early-layer bug cannot be averaged away.

Run `python3 tests/py/models.py [name...]` to build (or list) the cached models.
"""
import contextlib
import dataclasses
import fcntl
import json
import os
import sys
import time
from typing import Dict, List, Tuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tfcheck  # noqa: E402

# Bump when a builder changes so that stale cached graphs are rebuilt.
BUILDER_VERSION = 2
SEED = 0
# Inference-mode BatchNorm statistics are re-drawn uniformly from these ranges.
BN_GAMMA_RANGE = (0.5, 1.5)
BN_BETA_RANGE = (-0.2, 0.2)
# Images in the BatchNorm calibration batch (seeded apart from the test inputs).
CALIBRATION_BATCH = 4
CALIBRATION_SEED = 1

# name -> (keras.applications constructor name, input height/width, input value range)
KERAS_MODELS: Dict[str, Tuple[str, int, Tuple[float, float]]] = {
    "mobilenet_v2": ("MobileNetV2", 224, (-1.0, 1.0)),
    "resnet50": ("ResNet50", 224, (-1.0, 1.0)),
    "inception_v3": ("InceptionV3", 299, (-1.0, 1.0)),
    # EfficientNet rescales 0..255 pixels itself (Rescaling + Normalization layers).
    "efficientnet_b0": ("EfficientNetB0", 224, (0.0, 255.0)),
    "densenet121": ("DenseNet121", 224, (-1.0, 1.0)),
}
TF1_MODEL = "tf1_two_input"
ALL_MODELS = list(KERAS_MODELS) + [TF1_MODEL]

# The TF1 graph's shapes.
TF1_IMAGE_SIZE = 16
TF1_CHANNELS = 3
TF1_FEATURES = 10
TF1_CLASSES = 5


@dataclasses.dataclass
class FrozenModel:
    name: str
    path: str                     # the .pb file
    inputs: Dict[str, List]       # placeholder name -> shape (None for unknown dims)
    input_ranges: Dict[str, Tuple[float, float]]  # value range for random inputs
    outputs: Dict[str, str]       # role ("logits", "probs", "features") -> tensor name
    optional_inputs: List[str]    # PlaceholderWithDefault names (may be omitted when running)
    image_inputs: List[str]       # NHWC inputs fed with synthetic_images
    op_types: Dict[str, int]      # op type -> node count
    build_seconds: float
    file_bytes: int

    def random_inputs(self, batch: int, seed: int = SEED) -> Dict[str, np.ndarray]:
        """Seeded float32 inputs for the required placeholders with the batch dim set."""
        gen = np.random.default_rng(seed)
        out = {}
        for name, shape in self.inputs.items():
            if name in self.optional_inputs:
                continue
            dims = [batch if d is None else d for d in shape]
            if name in self.image_inputs:
                out[name] = synthetic_images(batch, dims[1], self.input_ranges[name], seed)
            else:
                lo, hi = self.input_ranges[name]
                out[name] = gen.uniform(lo, hi, size=dims).astype(np.float32)
        return out


def _versions() -> str:
    tf = tfcheck._tf()
    import keras
    return f"tf{tf.__version__}-keras{keras.__version__}-b{BUILDER_VERSION}"


def _sidecar_path(name: str) -> str:
    return os.path.join(tfcheck.CACHE_DIR, f"model-{name}-{_versions()}.json")


@contextlib.contextmanager
def _build_lock(name: str):
    """Serialises builds of one model across processes (parallel pytest runs)."""
    os.makedirs(tfcheck.CACHE_DIR, exist_ok=True)
    with open(os.path.join(tfcheck.CACHE_DIR, f"model-{name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_cached(name: str):
    sidecar = _sidecar_path(name)
    if not os.path.exists(sidecar):
        return None
    with open(sidecar) as f:
        meta = json.load(f)
    meta["path"] = os.path.join(tfcheck.CACHE_DIR, meta["path"])
    if not os.path.exists(meta["path"]):
        return None
    meta["input_ranges"] = {k: tuple(v) for k, v in meta["input_ranges"].items()}
    return FrozenModel(**meta)


def _write_cached(model: FrozenModel) -> None:
    meta = dataclasses.asdict(model)
    meta["path"] = os.path.basename(model.path)
    sidecar = _sidecar_path(model.name)
    tmp = sidecar + f".tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    os.replace(tmp, sidecar)


def _op_histogram(graph_def) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for node in graph_def.node:
        counts[node.op] = counts.get(node.op, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _strip_port(tensor_name: str) -> str:
    node, _, port = tensor_name.partition(":")
    return node if port in ("", "0") else tensor_name


def synthetic_images(batch: int, size: int, value_range: Tuple[float, float],
                     seed: int = SEED) -> np.ndarray:
    """Seeded float32 NHWC images whose statistics differ per sample.

    Plain i.i.d. noise makes a random-init network's globally pooled output almost the same for
    every sample (the spatial average of stationary features converges), which would hide
    kernel bugs. Each image is instead a smooth sinusoidal pattern with its own frequencies,
    contrast and brightness, plus some noise.
    """
    gen = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    images = []
    for _ in range(batch):
        freq_x, freq_y, phase = gen.uniform(1, 6, 3)
        pattern = np.stack([np.sin(2 * np.pi * (freq_x * xx + 0.3 * c) + phase) *
                            np.cos(2 * np.pi * freq_y * yy) for c in range(3)], axis=-1)
        noise = gen.uniform(-1, 1, (size, size, 3))
        image = (gen.uniform(0.3, 1.0) * pattern + gen.uniform(0.1, 0.5) * noise +
                 gen.uniform(-0.3, 0.3))
        image = np.clip(image, -1, 1)
        lo, hi = value_range
        images.append(lo + (image + 1) / 2 * (hi - lo))
    return np.stack(images).astype(np.float32)


def _calibrate_batchnorm(keras_model, calibration: np.ndarray, gen: np.random.Generator) -> None:
    """Sets BN moving statistics to real batch statistics and draws random gamma/beta.

    With random weights, BN's default statistics (mean 0, variance 1) do not normalise the
    actual activations, so the input signal fades layer by layer and the outputs end up nearly
    input-independent. One training-mode pass with momentum 0 stores each layer's batch mean and
    variance as its moving statistics; inference then keeps activations at unit scale.
    """
    import keras
    bn_layers = [l for l in keras_model.layers if isinstance(l, keras.layers.BatchNormalization)]
    for layer in bn_layers:
        layer.momentum = 0.0
        for var, value_range in ((layer.gamma, BN_GAMMA_RANGE), (layer.beta, BN_BETA_RANGE)):
            if var is not None:  # absent with scale=False / center=False (InceptionV3)
                var.assign(gen.uniform(*value_range, size=tuple(var.shape)).astype(np.float32))
    keras_model(calibration, training=True)


def _pooled_features(graph_def) -> str:
    """The tensor entering the global average pooling (Mean) that feeds the classifier MatMul."""
    by_name = {node.name: node for node in graph_def.node}
    matmuls = [node for node in graph_def.node if node.op == "MatMul"]
    if len(matmuls) != 1:
        raise RuntimeError(f"expected one classifier MatMul, found {len(matmuls)}")
    node = by_name[matmuls[0].input[0].split(":")[0]]
    while node.op == "Identity":
        node = by_name[node.input[0].split(":")[0]]
    if node.op != "Mean":
        raise RuntimeError(f"classifier input is {node.op} '{node.name}', not a global Mean")
    return _strip_port(node.input[0])


def _build_keras(name: str) -> FrozenModel:
    tf = tfcheck._tf()
    import keras
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2)

    ctor_name, size, value_range = KERAS_MODELS[name]
    start = time.monotonic()
    keras.utils.set_random_seed(SEED)
    keras.backend.clear_session()
    ctor = getattr(keras.applications, ctor_name)
    net = ctor(weights=None, input_shape=(size, size, 3), classifier_activation=None)
    _calibrate_batchnorm(net, synthetic_images(CALIBRATION_BATCH, size, value_range,
                                               seed=CALIBRATION_SEED),
                         np.random.default_rng(SEED))

    @tf.function(input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32, name="images")])
    def serve(images):
        logits = net(images, training=False)
        return logits, tf.nn.softmax(logits)

    frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    graph_def = frozen.graph.as_graph_def()
    if graph_def.library.function:
        raise RuntimeError(f"{name}: frozen graph still has a function library")
    input_names = [_strip_port(t.name) for t in frozen.inputs]
    output_names = [_strip_port(t.name) for t in frozen.outputs]
    if len(input_names) != 1 or len(output_names) != 2:
        raise RuntimeError(f"{name}: unexpected signature {input_names} -> {output_names}")
    features = _pooled_features(graph_def)
    data = graph_def.SerializeToString()
    path = tfcheck.save_graph_bytes(data, f"model-{name}")
    return FrozenModel(
        name=name, path=path,
        inputs={input_names[0]: [None, size, size, 3]},
        input_ranges={input_names[0]: value_range},
        outputs={"logits": output_names[0], "probs": output_names[1], "features": features},
        optional_inputs=[],
        image_inputs=[input_names[0]],
        op_types=_op_histogram(graph_def),
        build_seconds=round(time.monotonic() - start, 2),
        file_bytes=len(data))


def _build_tf1() -> FrozenModel:
    """A tf.compat.v1 graph with two inputs and a PlaceholderWithDefault, frozen the TF1 way.

    image [N,16,16,3] -> conv 3x3 (ref variable) + bias -> relu -> max pool -> flatten -> dense
    features [N,10]   -> dense (resource variable) -> tanh
    logits = (image branch + feature branch) * temperature  (temperature defaults to 1.0)
    """
    tf = tfcheck._tf()
    v1 = tf.compat.v1
    start = time.monotonic()
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(SEED)
        image = v1.placeholder(tf.float32, [None, TF1_IMAGE_SIZE, TF1_IMAGE_SIZE, TF1_CHANNELS],
                               name="image")
        features = v1.placeholder(tf.float32, [None, TF1_FEATURES], name="features")
        temperature = v1.placeholder_with_default(tf.constant(1.0), [], name="temperature")
        init = v1.random_normal_initializer(stddev=0.5, seed=SEED)
        # Both variable kinds, so that freezing handles VariableV2 and VarHandleOp.
        conv_w = v1.get_variable("conv_w", [3, 3, TF1_CHANNELS, 8], initializer=init,
                                 use_resource=False)
        conv_b = v1.get_variable("conv_b", [8], initializer=init, use_resource=False)
        pooled_size = TF1_IMAGE_SIZE // 2
        dense_w = v1.get_variable("dense_w", [pooled_size * pooled_size * 8, TF1_CLASSES],
                                  initializer=v1.random_normal_initializer(stddev=0.05, seed=SEED),
                                  use_resource=True)
        feat_w = v1.get_variable("feat_w", [TF1_FEATURES, TF1_CLASSES], initializer=init,
                                 use_resource=True)
        feat_b = v1.get_variable("feat_b", [TF1_CLASSES], initializer=init, use_resource=True)

        x = tf.nn.conv2d(image, conv_w, strides=1, padding="SAME")
        x = tf.nn.relu(tf.nn.bias_add(x, conv_b), name="conv_relu")
        x = tf.nn.max_pool2d(x, ksize=2, strides=2, padding="VALID")
        x = tf.reshape(x, [-1, pooled_size * pooled_size * 8])
        image_logits = tf.matmul(x, dense_w)
        feat_logits = tf.tanh(tf.matmul(features, feat_w) + feat_b)
        logits = tf.multiply(image_logits + feat_logits, temperature, name="logits")
        probs = tf.nn.softmax(logits, name="probs")
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            graph_def = v1.graph_util.convert_variables_to_constants(
                sess, graph.as_graph_def(), ["logits", "probs"])
    leftover = {n.op for n in graph_def.node} & {"VariableV2", "VarHandleOp", "ReadVariableOp"}
    if leftover:
        raise RuntimeError(f"{TF1_MODEL}: freezing left variable ops {sorted(leftover)}")
    data = graph_def.SerializeToString()
    path = tfcheck.save_graph_bytes(data, f"model-{TF1_MODEL}")
    return FrozenModel(
        name=TF1_MODEL, path=path,
        inputs={"image": [None, TF1_IMAGE_SIZE, TF1_IMAGE_SIZE, TF1_CHANNELS],
                "features": [None, TF1_FEATURES], "temperature": []},
        input_ranges={"image": (-1.0, 1.0), "features": (-2.0, 2.0), "temperature": (0.5, 2.0)},
        outputs={"logits": "logits", "probs": "probs", "features": "conv_relu"},
        optional_inputs=["temperature"],
        image_inputs=["image"],
        op_types=_op_histogram(graph_def),
        build_seconds=round(time.monotonic() - start, 2),
        file_bytes=len(data))


def get_model(name: str) -> FrozenModel:
    """Returns the cached frozen model, building it first if needed."""
    if name not in ALL_MODELS:
        raise KeyError(f"unknown model {name!r}; known: {ALL_MODELS}")
    cached = _read_cached(name)
    if cached is not None:
        return cached
    with _build_lock(name):
        cached = _read_cached(name)  # another process may have built it meanwhile
        if cached is not None:
            return cached
        model = _build_tf1() if name == TF1_MODEL else _build_keras(name)
        _write_cached(model)
        return model


def run_tf(model: FrozenModel, feeds: Dict[str, np.ndarray], tensor_names: List[str]):
    """Runs the frozen .pb itself in TensorFlow (the oracle). Names may carry ":port"."""
    tf = tfcheck._tf()
    graph_def = tf.compat.v1.GraphDef()
    with open(model.path, "rb") as f:
        graph_def.ParseFromString(f.read())
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(graph_def, name="")
    fetches = [n if ":" in n else n + ":0" for n in tensor_names]
    feed = {(k if ":" in k else k + ":0"): v for k, v in feeds.items()}
    with tf.compat.v1.Session(graph=graph) as sess:
        return sess.run(fetches, feed)


if __name__ == "__main__":
    for model_name in sys.argv[1:] or ALL_MODELS:
        t0 = time.monotonic()
        m = get_model(model_name)
        print(f"{m.name}: {m.path} ({m.file_bytes / 1e6:.1f} MB, built in {m.build_seconds}s, "
              f"loaded in {time.monotonic() - t0:.1f}s)")
        print(f"  inputs {m.inputs} outputs {m.outputs}")
        print(f"  ops {m.op_types}")
