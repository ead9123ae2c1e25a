"""Conformance with TF of RFFT + ComplexAbs (issue 17): a YAMNet-style magnitude spectrogram
(tf.signal.stft, tf.abs, a mel matrix and a log), cropped and zero-padded fft lengths, and errors."""
import numpy as np

import tfcheck
from tfcheck import check_against_tf, rng


def test_rfft_abs_lengths():
    tf = tfcheck._tf()
    x = rng(1).standard_normal((3, 4, 16)).astype(np.float32)

    def build(x):
        return [tf.abs(tf.signal.rfft(x)),                   # N = 16
                tf.abs(tf.signal.rfft(x, [10])),              # cropped, even
                tf.abs(tf.signal.rfft(x, [25])),              # zero-padded, odd
                tf.abs(tf.signal.rfft(x[:, :, :1], [1])),
                tf.abs(tf.signal.rfft(x[:0], [8]))]           # no rows
    check_against_tf(build, {"x": x}, dynamic_batch=True, stem="fft_rfft")


def test_yamnet_style_spectrogram():
    tf = tfcheck._tf()
    wave = (rng(2).standard_normal((2, 4000)) * 0.3).astype(np.float32)
    mel = tf.signal.linear_to_mel_weight_matrix(16, 257, 16000, 125.0, 7500.0).numpy()

    def build(w):
        spec = tf.abs(tf.signal.stft(w, frame_length=400, frame_step=160, fft_length=512))
        return [spec, tf.math.log(tf.matmul(tf.reshape(spec, [-1, 257]), mel) + 0.001)]
    check_against_tf(build, {"w": wave}, stem="fft_yamnet")


def test_rfft_negative_length():
    tf = tfcheck._tf()

    def set_len(graph_def):
        node = next(n for n in graph_def.node if n.op == "Const" and "fft_length" in n.name)
        node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.array([-4], np.int32)))
    tfcheck.expect_pbmem_error(lambda x: tf.abs(tf.signal.rfft(x, [8])), {"x": (np.float32, (2, 8))},
                               {"x": np.zeros((2, 8), np.float32)}, "bad_rfft_len", "non-negative",
                               mutate=set_len)
