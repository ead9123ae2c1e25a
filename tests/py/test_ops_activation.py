"""Conformance of the activations (src/kernels/activation.cc) with TF, including a dense sweep
of the float range and special values for the ones built on pbmem's fast exp/sigmoid/tanh
(compared with a relative tolerance, not only the suite's absolute one), Softmax/LogSoftmax on
several ranks and extreme logits, and GELU (which TF lowers to Erfc or Tanh/Pow)."""
import numpy as np
import pytest

import tfcheck
from tfcheck import check_against_tf, rng

POINTWISE = ["Relu", "Relu6", "Elu", "Selu", "LeakyRelu", "Sigmoid", "Tanh", "Softplus",
             "Softsign", "Erf", "Erfc"]
# Sigmoid and Tanh take `x`, the others `features`.
X_ARG = {"Sigmoid", "Tanh", "Erf", "Erfc"}
SHAPES = [(2, 3, 4), (), (0, 5), (4097,)]


def _apply(op, x, **attrs):
    tf = tfcheck._tf()
    fn = getattr(tf.raw_ops, op)
    return fn(x=x, **attrs) if op in X_ARG else fn(features=x, **attrs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", POINTWISE)
def test_pointwise(op, dtype):
    inputs = {f"x{i}": (rng(i).standard_normal(s) * 4).astype(dtype) for i, s in enumerate(SHAPES)}
    check_against_tf(lambda **p: [_apply(op, p[f"x{i}"]) for i in range(len(SHAPES))],
                     inputs, stem=f"act_{op}_{np.dtype(dtype).name}")


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_relu_int(dtype):
    x = rng(1).integers(-10, 10, (3, 8)).astype(dtype)
    check_against_tf(lambda x: [_apply("Relu", x), _apply("Relu6", x)], {"x": x},
                     stem=f"act_relu_{np.dtype(dtype).name}")


@pytest.mark.parametrize("alpha", [None, 0.1, 2.0])
def test_leaky_relu_alpha(alpha):
    x = (rng(2).standard_normal((5, 6)) * 3).astype(np.float32)
    attrs = {} if alpha is None else {"alpha": alpha}
    check_against_tf(lambda x: _apply("LeakyRelu", x, **attrs), {"x": x},
                     dynamic_batch=True, stem="act_leaky")


REL_TOL = 2e-5
ABS_FLOOR = 2e-7


def _sweep():
    """Dense float32 sweep plus special values."""
    dense = np.linspace(-110.0, 110.0, 44001)
    fine = np.linspace(-0.2, 0.2, 4001)  # tanh switches formula near 0.0625
    special = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 1e-8, -1e-8, 88.7, 88.8, -87.4,
               -103.9, -104.1, 0.0625, -0.0625, 0.06249999, 9.0, 15.9, 16.0, 17.0, -16.0, -17.0]
    return np.concatenate([dense, fine, special]).astype(np.float32)


@pytest.mark.parametrize("op", ["Sigmoid", "Tanh", "Elu", "Selu", "Softplus"])
def test_fast_math_relative_accuracy(op):
    """The float paths use pbmem's own exp: compare element by element, relatively."""
    import pbmem
    x = _sweep()
    data, names, want = tfcheck.build_tf1_graph(lambda x: _apply(op, x), {"x": x})
    path = tfcheck.save_graph_bytes(data, f"act_sweep_{op}")
    got = pbmem.load(path).run({"x": x}, outputs=names)[names[0]]
    want = want[0]
    assert np.array_equal(np.isnan(got), np.isnan(want))
    finite = np.isfinite(want)
    assert np.array_equal(got[~finite], want[~finite], equal_nan=True)
    g, w = got[finite].astype(np.float64), want[finite].astype(np.float64)
    # Relative, plus an absolute floor of about one float32 ulp of 1: TF computes Elu/Selu as
    # exp(x) - 1, which cancels near 0 (pbmem uses an expm1 there and is closer to exact).
    excess = np.abs(g - w) - (REL_TOL * np.abs(w) + ABS_FLOOR)
    worst = int(np.argmax(excess))
    assert excess[worst] <= 0, f"{op}: x={x[finite][worst]!r} got {g[worst]!r} want {w[worst]!r}"


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax(op, dtype):
    tf = tfcheck._tf()
    fn = getattr(tf.raw_ops, op)
    g = rng(3)
    inputs = {
        "a": g.standard_normal((2, 5)).astype(dtype),
        "b": (g.standard_normal((3, 4, 7)) * 30).astype(dtype),  # large logits: needs the max shift
        "c": g.standard_normal((9,)).astype(dtype),
        "d": (g.standard_normal((2, 1000)) * 5).astype(dtype),
        "e": np.zeros((3, 0), dtype),
        "f": g.standard_normal((4, 1)).astype(dtype),
    }
    check_against_tf(lambda **p: [fn(logits=p[k]) for k in sorted(p)], inputs,
                     stem=f"act_{op}_{np.dtype(dtype).name}")


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_softmax_special_values(op):
    tf = tfcheck._tf()
    fn = getattr(tf.raw_ops, op)
    x = np.array([[np.nan, 1.0, 2.0], [-np.inf, -np.inf, -np.inf], [np.inf, 1.0, 0.0],
                  [-np.inf, 1.0, 2.0], [1e30, -1e30, 0.0]], np.float32)
    check_against_tf(lambda x: fn(logits=x), {"x": x}, stem=f"act_{op}_special")


def test_softmax_dynamic_batch():
    tf = tfcheck._tf()
    x = rng(4).standard_normal((3, 10)).astype(np.float32)
    check_against_tf(lambda x: [tf.nn.softmax(x), tf.nn.log_softmax(x)], {"x": x},
                     dynamic_batch=True, stem="act_softmax_dyn")


@pytest.mark.parametrize("approximate", [False, True])
def test_gelu(approximate):
    tf = tfcheck._tf()
    x = (rng(5).standard_normal((4, 33)) * 3).astype(np.float32)
    check_against_tf(lambda x: tf.nn.gelu(x, approximate=approximate), {"x": x},
                     dynamic_batch=True, stem="act_gelu")


def test_swish_pattern():
    tf = tfcheck._tf()
    x = (rng(6).standard_normal((2, 8, 8, 16)) * 4).astype(np.float32)
    check_against_tf(lambda x: [x * tf.sigmoid(x), tf.nn.relu6(x + 3.0) / 6.0 * x],
                     {"x": x}, dynamic_batch=True, stem="act_swish")


def test_softmax_of_scalar_is_an_error():
    import pbmem
    tf = tfcheck._tf()
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, shape=None, name="x")
        out = tf.identity(tf.raw_ops.Softmax(logits=x, name="sm"), name="out0")
    path = tfcheck.save_graph_bytes(graph.as_graph_def().SerializeToString(), "act_softmax_scalar")
    with pytest.raises(pbmem.Error) as err:
        pbmem.load(path).run({"x": np.float32(1.0)}, outputs=[out.name])
    assert "sm" in str(err.value) and "Softmax" in str(err.value), str(err.value)
