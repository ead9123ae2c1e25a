"""Conformance with TF of Einsum (issue 17): the equations Keras MultiHeadAttention / EinsumDense
and BERT-style code emit, batch-matmul forms with '...', and the errors for equations pbmem does not
compute (repeated labels, labels summed away from one input).
"""
import numpy as np
import pytest

import tfcheck
from tfcheck import check_against_tf, rng


def _f32(shape, seed=0, scale=1.0):
    return (rng(seed).standard_normal(shape) * scale).astype(np.float32)


def test_einsum_attention_equations():
    """Keras MultiHeadAttention: projections, scores, context and the output projection."""
    tf = tfcheck._tf()
    x = _f32((2, 5, 8), 1)           # [batch, seq, features]
    w_qkv = _f32((8, 3, 4), 2)       # [features, heads, head_dim]
    w_out = _f32((3, 4, 8), 3)       # [heads, head_dim, features]
    w_dense = _f32((8, 6), 4)

    def build(x):
        q = tf.einsum("abc,cde->abde", x, w_qkv)            # [b, seq, heads, dim]
        k = tf.einsum("abc,cde->abde", x * 0.5, w_qkv)
        scores = tf.einsum("aecd,abcd->acbe", k, q)         # [b, heads, seq_q, seq_k]
        context = tf.einsum("acbe,aecd->abcd", tf.nn.softmax(scores), q)
        return [q, scores, context,
                tf.einsum("abcd,cde->abe", context, w_out),  # output projection
                tf.einsum("abc,cd->abd", x, w_dense)]       # EinsumDense
    check_against_tf(build, {"x": x}, dynamic_batch=True, stem="einsum_attention")


def test_einsum_batch_matmul_forms():
    tf = tfcheck._tf()
    a = _f32((2, 3, 4, 5), 5)
    b = _f32((2, 3, 5, 6), 6)
    c = _f32((5, 6), 7)
    v = _f32((1, 3, 6, 5), 8)

    def build(a, b):
        return [tf.einsum("...ij,...jk->...ik", a, b),
                tf.einsum("...ij,jk->...ik", a, c),          # shared matrix, ellipsis on one side
                tf.einsum("...ij,...kj->...ik", a, v),       # transposed B, broadcast batch dim
                tf.einsum("bhij,bhjk->bhki", a, b),          # permuted output
                tf.einsum("ij,jk->ik", a[0, 0], c),
                tf.einsum("ij,kj->ki", c, c),
                tf.einsum("bij->jib", a[0]),                 # a single input: a transpose
                tf.einsum("abcd,abce->de", a, tf.transpose(a, [0, 1, 2, 3])),  # contract 3 dims
                tf.einsum("i,j->ij", c[0], c[1]),             # outer product (K = 1)
                tf.einsum("bij,bjk->bik", a[:, 0, :0, :], b[:, 0]),  # empty M
                tf.einsum("bij,bjk->bik", a[:, 0, :, :0], b[:, 0, :0])]  # K = 0: zeros
    check_against_tf(build, {"a": a, "b": b}, stem="einsum_matmul_forms")


@pytest.mark.parametrize("equation,fragment", [
    ("ii->i", "repeats within term"),
    ("ij,jk->i", "summed away on its own"),
])
def test_einsum_unsupported(equation, fragment):
    tf = tfcheck._tf()
    shapes = {"ii->i": [(3, 3)], "ij,jk->i": [(3, 4), (4, 5)]}[equation]
    specs = {f"x{i}": (np.float32, s) for i, s in enumerate(shapes)}
    feeds = {f"x{i}": np.ones(s, np.float32) for i, s in enumerate(shapes)}
    message = tfcheck.expect_pbmem_error(lambda **xs: tf.raw_ops.Einsum(inputs=list(xs.values()), equation=equation),
                                         specs, feeds, "einsum_unsupported", fragment)
    assert equation in message


def test_einsum_mismatched_dims():
    tf = tfcheck._tf()
    tfcheck.expect_pbmem_error(lambda a, b: tf.raw_ops.Einsum(inputs=[a, b], equation="ij,jk->ik"),
                               {"a": (np.float32, (2, None)), "b": (np.float32, (3, 4))},
                               {"a": np.ones((2, 5), np.float32), "b": np.ones((3, 4), np.float32)},
                               "einsum_bad_dims", "size 5", "ij,jk->ik")


def test_keras_multi_head_attention_frozen():
    """A Keras MultiHeadAttention layer and an EinsumDense frozen as users do (freezing keeps some
    contractions as Einsum nodes, others become BatchMatMulV2), run with a dynamic batch."""
    tf = tfcheck._tf()
    import keras
    import pbmem
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    keras.utils.set_random_seed(0)
    q_in = keras.Input((6, 16))
    kv_in = keras.Input((9, 16))
    y = keras.layers.MultiHeadAttention(num_heads=4, key_dim=8, value_dim=5)(q_in, kv_in)
    y = keras.layers.EinsumDense("abc,cd->abd", output_shape=(None, 7), bias_axes="d")(y)
    net = keras.Model([q_in, kv_in], y)

    @tf.function(input_signature=[tf.TensorSpec([None, 6, 16], tf.float32, name="q"),
                                  tf.TensorSpec([None, 9, 16], tf.float32, name="kv")])
    def serve(q, kv):
        return net([q, kv])
    frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    graph_def = frozen.graph.as_graph_def()
    assert "Einsum" in {n.op for n in graph_def.node}
    q, kv = _f32((3, 6, 16), 9), _f32((3, 9, 16), 10)
    out = frozen.outputs[0].name.split(":")[0]
    got = pbmem.load(tfcheck.save_graph_bytes(graph_def.SerializeToString(), "keras_mha")).run(
        {"q": q, "kv": kv}, outputs=[out])[out]
    tfcheck.assert_matches(got, serve(q, kv).numpy(), name=out)
