"""Epilogue fusion (src/runtime/fusion.h): conv/depthwise/matmul followed by per-channel affine
ops (BiasAdd, Add/AddV2, Sub, Mul with constants: Keras' BatchNorm lowering) and activations is
computed by the producer. Each case checks the outputs against TF and how many nodes were fused,
including the cases where fusion must stop (requested outputs, shared tensors, non-per-channel
operands, a scale on a matmul)."""
import numpy as np
import pytest

import tfcheck
from cli import import_pbmem

TOL = 2e-5


def _fused_nodes(path, inputs):
    pbmem = import_pbmem()
    plan = pbmem.load(path).plan(input_shapes={k: np.shape(v) for k, v in inputs.items()})
    return plan["fused_nodes"]


def _check(build, inputs, expected_fused, dynamic_batch=False, stem="fusion"):
    path = tfcheck.check_against_tf(build, inputs, dynamic_batch=dynamic_batch, tol=TOL, stem=stem)
    assert _fused_nodes(path, inputs) == expected_fused
    return path


def _consts(rng, c):
    return (rng.standard_normal(c).astype(np.float32), rng.uniform(0.5, 1.5, c).astype(np.float32),
            rng.standard_normal(c).astype(np.float32))


ACTIVATIONS = {
    "relu": (lambda tf, y: tf.nn.relu(y)),
    "relu6": (lambda tf, y: tf.nn.relu6(y)),
    "leaky_relu": (lambda tf, y: tf.nn.leaky_relu(y, alpha=0.15)),
    "elu": (lambda tf, y: tf.nn.elu(y)),
    "sigmoid": (lambda tf, y: tf.sigmoid(y)),
    "tanh": (lambda tf, y: tf.tanh(y)),
}


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_conv_bias_batchnorm_activation(activation):
    """Conv2D -> BiasAdd -> Sub(mean) -> Mul(scale) -> AddV2(beta) -> activation: all fused."""
    tf = tfcheck._tf()
    rng = tfcheck.rng(1)
    x = rng.standard_normal((2, 9, 11, 5)).astype(np.float32)
    f = rng.standard_normal((3, 3, 5, 7)).astype(np.float32)
    bias, scale, beta = _consts(rng, 7)
    mean = rng.standard_normal((1, 1, 1, 7)).astype(np.float32)

    def build(x):
        y = tf.nn.conv2d(x, f, strides=[1, 2, 1, 1], padding="SAME")
        y = tf.nn.bias_add(y, bias)
        y = (y - mean) * scale + beta
        return ACTIVATIONS[activation](tf, y)
    _check(build, {"x": x}, expected_fused=5, dynamic_batch=True, stem=f"fusion_conv_{activation}")


def test_depthwise_keras_batchnorm_relu6():
    tf = tfcheck._tf()
    rng = tfcheck.rng(2)
    x = rng.standard_normal((1, 8, 8, 6)).astype(np.float32)
    f = rng.standard_normal((3, 3, 6, 2)).astype(np.float32)
    _, scale, beta = _consts(rng, 12)

    def build(x):
        y = tf.nn.depthwise_conv2d(x, f, strides=[1, 1, 1, 1], padding="VALID")
        return tf.nn.relu6(y * scale + beta)
    _check(build, {"x": x}, expected_fused=3)


def test_constant_on_the_left_and_scalar_operands():
    """t - y, s * y, t + y with per-channel and scalar constants, then two activations."""
    tf = tfcheck._tf()
    rng = tfcheck.rng(3)
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    f = rng.standard_normal((1, 1, 3, 4)).astype(np.float32)
    t, s, u = _consts(rng, 4)

    def build(x):
        y = tf.nn.conv2d(x, f, strides=1, padding="VALID")
        y = tf.constant(t) - y
        y = tf.constant(s) * y
        y = tf.constant(0.25) + y
        y = y * tf.constant(2.0)
        return tf.nn.elu(tf.nn.leaky_relu(y, alpha=0.3))
    _check(build, {"x": x}, expected_fused=6)


def test_dense_bias_relu_with_unknown_batch():
    tf = tfcheck._tf()
    rng = tfcheck.rng(4)
    x = rng.standard_normal((5, 16)).astype(np.float32)
    w = rng.standard_normal((16, 10)).astype(np.float32)
    b = rng.standard_normal(10).astype(np.float32)

    def build(x):
        return tf.nn.relu(tf.nn.bias_add(tf.matmul(x, w), b))
    _check(build, {"x": x}, expected_fused=2, dynamic_batch=True)


def test_matmul_takes_no_scale():
    """A Mul after a matmul is not folded (the matmul kernel takes shift and activations only):
    the Mul computes itself and the Relu in one pass instead (1 fused)."""
    tf = tfcheck._tf()
    rng = tfcheck.rng(5)
    x = rng.standard_normal((3, 8)).astype(np.float32)
    w = rng.standard_normal((8, 4)).astype(np.float32)
    s = rng.uniform(0.5, 2, 4).astype(np.float32)

    def build(x):
        return tf.nn.relu(tf.matmul(x, w) * s)
    _check(build, {"x": x}, expected_fused=1)


def test_fusion_stops_at_requested_outputs_and_shared_tensors():
    tf = tfcheck._tf()
    rng = tfcheck.rng(6)
    x = rng.standard_normal((1, 7, 7, 3)).astype(np.float32)
    f = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    bias, scale, beta = _consts(rng, 4)

    def requested(x):
        y = tf.nn.bias_add(tf.nn.conv2d(x, f, strides=1, padding="SAME"), bias)
        z = tf.nn.relu(y * scale)
        return [y, z]  # y is an output: the conv's chain ends at it; the Mul heads its own
    _check(requested, {"x": x}, expected_fused=2, stem="fusion_requested")

    def shared(x):
        y = tf.nn.bias_add(tf.nn.conv2d(x, f, strides=1, padding="SAME"), bias)
        return tf.nn.relu(y) + y  # y has two consumers: only the BiasAdd is fused
    _check(shared, {"x": x}, expected_fused=1, stem="fusion_shared")

    def not_per_channel(x):
        y = tf.nn.conv2d(x, f, strides=1, padding="SAME")
        full = rng.standard_normal((1, 7, 7, 4)).astype(np.float32)
        return tf.nn.relu(y + full)  # a whole-tensor constant is no per-channel shift
    _check(not_per_channel, {"x": x}, expected_fused=0, stem="fusion_full_operand")


def test_residual_add_of_two_convs_is_fused_into_the_later_one():
    """a + b of two conv chains: the conv scheduled second adds the other's output as a oneDNN
    binary post-op, before the Relu (its BN 2 + Add + Relu; the first keeps its BN 2)."""
    tf = tfcheck._tf()
    rng = tfcheck.rng(7)
    x = rng.standard_normal((2, 5, 5, 4)).astype(np.float32)
    f1 = rng.standard_normal((1, 1, 4, 4)).astype(np.float32)
    f2 = rng.standard_normal((3, 3, 4, 4)).astype(np.float32)
    _, scale, beta = _consts(rng, 4)

    def build(x):
        a = tf.nn.conv2d(x, f1, strides=1, padding="SAME") * scale + beta
        b = tf.nn.conv2d(x, f2, strides=1, padding="SAME") * scale + beta
        return tf.nn.relu(a + b)
    _check(build, {"x": x}, expected_fused=6, dynamic_batch=True)


def test_resnet_identity_block_residual_is_fused():
    """x -> conv/BN/relu -> conv/BN -> Add(x) -> relu, the ResNet identity block: the block's
    input, still read by the first conv, is added by the second; the sum also feeds a second
    output, and x itself is read after the block (the post-op only reads the residual)."""
    tf = tfcheck._tf()
    rng = tfcheck.rng(8)
    x = rng.standard_normal((2, 6, 7, 8)).astype(np.float32)
    f1 = rng.standard_normal((3, 3, 8, 8)).astype(np.float32) * 0.2
    f2 = rng.standard_normal((1, 1, 8, 8)).astype(np.float32) * 0.2
    _, s1, b1 = _consts(rng, 8)
    _, s2, b2 = _consts(rng, 8)

    def build(x):
        y = tf.nn.relu(tf.nn.conv2d(x, f1, strides=1, padding="SAME") * s1 + b1)
        y = tf.nn.relu(tf.nn.conv2d(y, f2, strides=1, padding="SAME") * s2 + b2 + x)
        return [y, x * 2.0]
    _check(build, {"x": x}, expected_fused=3 + 4, dynamic_batch=True, stem="fusion_residual_block")


def test_residual_add_is_not_fused_when_it_broadcasts_or_is_constant():
    """A residual that broadcasts (a [N,1,1,C] tensor) or a whole-tensor constant is no residual
    of the output's shape: those Adds run as their own op."""
    tf = tfcheck._tf()
    rng = tfcheck.rng(9)
    x = rng.standard_normal((2, 4, 4, 3)).astype(np.float32)
    f = rng.standard_normal((3, 3, 3, 5)).astype(np.float32)

    def broadcast(x):
        y = tf.nn.conv2d(x, f, strides=1, padding="SAME")
        return tf.nn.relu(y + tf.reduce_mean(y, axis=[1, 2], keepdims=True))
    _check(broadcast, {"x": x}, expected_fused=0, stem="fusion_residual_broadcast")

    full = rng.standard_normal((2, 4, 4, 5)).astype(np.float32)

    def constant(x):
        return tf.nn.relu(tf.nn.conv2d(x, f, strides=1, padding="SAME") + full)
    _check(constant, {"x": x}, expected_fused=0, stem="fusion_residual_constant")


def test_residual_add_after_a_conv_that_sees_only_padding():
    """A zero Pad around an empty input makes the conv sum over padding only: each output is the
    epilogue of 0 plus the residual (the kernel's scalar path)."""
    tf = tfcheck._tf()
    rng = tfcheck.rng(10)
    x = np.zeros((1, 0, 5, 3), np.float32)
    r = rng.standard_normal((1, 2, 5, 4)).astype(np.float32)
    f = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    _, scale, beta = _consts(rng, 4)

    def build(x, r):
        p = tf.pad(x, [[0, 0], [2, 2], [1, 1], [0, 0]])
        return tf.nn.relu(tf.nn.conv2d(p, f, strides=1, padding="VALID") * scale + beta + r)
    _check(build, {"x": x, "r": r}, expected_fused=5, stem="fusion_residual_padding_only")


@pytest.mark.isolated  # TF on oneDNN aborted the process on this K = 0 matmul
def test_empty_reduction_gives_the_epilogue_of_zero():
    """K = 0: the matmul sums over nothing, so each output is the fused epilogue of 0, i.e.
    sigmoid(bias). The oracle is eager TF: a TF1 Session's graph optimiser returns sigmoid(0)
    for this graph (it drops the BiasAdd of an empty product)."""
    tf = tfcheck._tf()
    pbmem = import_pbmem()
    rng = tfcheck.rng(8)
    x = np.zeros((3, 0), np.float32)
    w = np.zeros((0, 6), np.float32)
    b = rng.standard_normal(6).astype(np.float32)

    def build(x):
        return tf.sigmoid(tf.nn.bias_add(tf.matmul(x, w), b))
    data, names, _ = tfcheck.build_tf1_graph(build, {"x": x})
    path = tfcheck.save_graph_bytes(data, "fusion_empty_k")
    got = pbmem.load(path).run({"x": x}, outputs=names)[names[0]]
    want = build(tf.constant(x)).numpy()  # eager
    tfcheck.assert_matches(got, want, tol=TOL)
    assert _fused_nodes(path, {"x": x}) == 2


@pytest.mark.parametrize("conv, padding", [("conv", "VALID"), ("conv", "SAME"),
                                           ("depthwise", "VALID"), ("depthwise", "SAME")])
def test_zero_pad_joins_the_conv_padding(conv, padding):
    """Pad (H, W only, zeros) -> Conv2D/Depthwise (stride 2, as Keras' ZeroPadding2D before a
    strided conv): the Pad is fused; the conv's epilogue too."""
    tf = tfcheck._tf()
    rng = tfcheck.rng(9)
    x = rng.standard_normal((2, 9, 10, 4)).astype(np.float32)
    f = rng.standard_normal((3, 3, 4, 4 if conv == "conv" else 1)).astype(np.float32)
    _, scale, beta = _consts(rng, 4)

    def build(x):
        y = tf.pad(x, [[0, 0], [1, 2], [0, 1], [0, 0]])  # uneven, as TF's "correct_pad"
        if conv == "conv":
            y = tf.nn.conv2d(y, f, strides=2, padding=padding)
        else:
            y = tf.nn.depthwise_conv2d(y, f, strides=[1, 2, 2, 1], padding=padding)
        return tf.nn.relu(y * scale + beta)
    _check(build, {"x": x}, expected_fused=4, dynamic_batch=True,
           stem=f"fusion_pad_{conv}_{padding}")


def test_pads_that_must_stay():
    """Non-zero PadV2 values, channel padding, and a pad read by two convs are not fused."""
    tf = tfcheck._tf()
    rng = tfcheck.rng(10)
    x = rng.standard_normal((1, 6, 6, 3)).astype(np.float32)
    f = rng.standard_normal((3, 3, 3, 2)).astype(np.float32)
    f4 = rng.standard_normal((3, 3, 4, 2)).astype(np.float32)

    def non_zero(x):
        return tf.nn.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=0.5), f,
                            strides=1, padding="VALID")
    _check(non_zero, {"x": x}, expected_fused=0, stem="fusion_pad_nonzero")

    def channels(x):
        return tf.nn.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 1]]), f4, strides=1,
                            padding="VALID")
    _check(channels, {"x": x}, expected_fused=0, stem="fusion_pad_channels")

    def shared(x):
        y = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
        return [tf.nn.conv2d(y, f, strides=1, padding="VALID"),
                tf.nn.conv2d(y, f, strides=2, padding="VALID")]
    _check(shared, {"x": x}, expected_fused=0, stem="fusion_pad_shared")


def test_pad_larger_than_the_kernel_window():
    """Padding wider than the window: some outputs see only zeros (and get the epilogue of 0)."""
    tf = tfcheck._tf()
    rng = tfcheck.rng(11)
    x = rng.standard_normal((1, 2, 2, 2)).astype(np.float32)
    f = rng.standard_normal((2, 2, 2, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)

    def build(x):
        y = tf.pad(x, [[0, 0], [4, 3], [3, 4], [0, 0]])
        return tf.sigmoid(tf.nn.bias_add(tf.nn.conv2d(y, f, strides=1, padding="VALID"), b))
    _check(build, {"x": x}, expected_fused=3, stem="fusion_pad_wide")


def _ops_of(path):
    tf = tfcheck._tf()
    graph = tf.compat.v1.GraphDef()
    with open(path, "rb") as f:
        graph.ParseFromString(f.read())
    return [n.op for n in graph.node]


@pytest.mark.parametrize("beta", [1.0, 1.5])
def test_swish_as_keras_lowers_it_is_fused(beta):
    """Conv2D -> BN -> tf.nn.silu -> depthwise -> BiasAdd -> silu, as EfficientNet: silu lowers to
    b = Mul(beta, y), s = Sigmoid(b), m = Mul(y, s) inside IdentityN(m, y, beta) (custom
    gradient). Both swishes become eltwise_swish post-ops: Mul(beta), Sigmoid and Mul fused
    (3 each), plus the BN's Mul/AddV2 and the BiasAdd; the IdentityNs are views."""
    tf = tfcheck._tf()
    rng = tfcheck.rng(21)
    x = rng.standard_normal((2, 8, 9, 4)).astype(np.float32)
    f = rng.standard_normal((3, 3, 4, 6)).astype(np.float32)
    dw = rng.standard_normal((3, 3, 6, 1)).astype(np.float32)
    bias, scale, shift = _consts(rng, 6)

    def build(x):
        y = tf.nn.conv2d(x, f, strides=1, padding="SAME") * scale + shift
        y = tf.nn.silu(y, beta=beta)
        y = tf.nn.bias_add(tf.nn.depthwise_conv2d(y, dw, strides=[1, 1, 1, 1], padding="SAME"), bias)
        return tf.nn.silu(y, beta=beta)
    path = _check(build, {"x": x}, expected_fused=2 + 3 + 1 + 3, dynamic_batch=True,
                  stem=f"fusion_swish_{beta}")
    ops = _ops_of(path)
    assert ops.count("IdentityN") == 2 and ops.count("Sigmoid") == 2


def test_plain_swish_and_matmul_swish_are_fused():
    """y * sigmoid(y) written by hand (no IdentityN, no beta), after a conv and after a matmul."""
    tf = tfcheck._tf()
    rng = tfcheck.rng(22)
    x = rng.standard_normal((3, 6, 6, 5)).astype(np.float32)
    f = rng.standard_normal((1, 1, 5, 8)).astype(np.float32)
    w = rng.standard_normal((8, 4)).astype(np.float32)

    def build(x):
        y = tf.nn.conv2d(x, f, strides=1, padding="VALID")
        y = y * tf.sigmoid(y)
        z = tf.matmul(tf.reduce_mean(y, axis=[1, 2]), w)
        return tf.sigmoid(z) * z
    _check(build, {"x": x}, expected_fused=4, stem="fusion_swish_plain")


def test_swish_is_not_fused_when_its_parts_are_read_elsewhere():
    """The sigmoid also read by another op, y read beside the swish, or IdentityN's y output
    consumed: fusing would change what those readers see, so nothing of the swish is fused."""
    tf = tfcheck._tf()
    rng = tfcheck.rng(23)
    x = rng.standard_normal((1, 5, 5, 3)).astype(np.float32)
    f = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)

    def sigmoid_shared(x):
        y = tf.nn.conv2d(x, f, strides=1, padding="SAME")
        s = tf.sigmoid(y)
        return y * s + s
    _check(sigmoid_shared, {"x": x}, expected_fused=0, stem="fusion_swish_sigmoid_shared")

    def y_shared(x):
        y = tf.nn.conv2d(x, f, strides=1, padding="SAME")
        return y * tf.sigmoid(y) - y
    _check(y_shared, {"x": x}, expected_fused=0, stem="fusion_swish_y_shared")

    def identity_n_output_read(x):
        y = tf.nn.conv2d(x, f, strides=1, padding="SAME")
        m, y_again = tf.raw_ops.IdentityN(input=[y * tf.sigmoid(y), y])
        return m + 2.0 * y_again
    _check(identity_n_output_read, {"x": x}, expected_fused=0, stem="fusion_swish_identityn_read")


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_batchnorm_activation_after_a_concat_runs_as_one_pass(activation):
    """DenseNet's pre-activation: Concat -> Mul(scale) -> AddV2(shift) -> activation -> conv.
    No conv/matmul produces the Concat, so the Mul heads the chain and computes all of it in one
    pass (2 fused); the Concat output is still read by a second branch."""
    tf = tfcheck._tf()
    rng = tfcheck.rng(31)
    a = rng.standard_normal((2, 5, 6, 3)).astype(np.float32)
    b = rng.standard_normal((2, 5, 6, 4)).astype(np.float32)
    f = rng.standard_normal((1, 1, 7, 5)).astype(np.float32)
    _, scale, shift = _consts(rng, 7)

    def build(a, b):
        c = tf.concat([a, b], axis=3)
        y = ACTIVATIONS[activation](tf, c * scale + shift)
        return [tf.nn.conv2d(y, f, strides=1, padding="SAME"), c * 2.0]
    _check(build, {"a": a, "b": b}, expected_fused=2, dynamic_batch=True,
           stem=f"fusion_standalone_{activation}")


def test_standalone_chain_with_reversed_sub_bias_add_and_two_activations():
    """shift - x (Sub with the tensor second), BiasAdd, then Relu6 and Sigmoid, after an Add of
    two inputs: one pass (4 fused after the Sub head)."""
    tf = tfcheck._tf()
    rng = tfcheck.rng(32)
    x = rng.standard_normal((3, 4, 6)).astype(np.float32) * 4
    y = rng.standard_normal((3, 4, 6)).astype(np.float32)
    shift, bias = rng.standard_normal(6).astype(np.float32), rng.standard_normal(6).astype(np.float32)

    def build(x, y):
        z = shift - (x + y)
        z = tf.nn.bias_add(z * 1.5, bias)
        return tf.sigmoid(tf.nn.relu6(z))
    _check(build, {"x": x, "y": y}, expected_fused=4, stem="fusion_standalone_sub")
