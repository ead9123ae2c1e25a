"""SessionOptions::weights = mapped (`--weights mapped`, pbmem.load(weights="mapped")): constant
conv/depthwise/matmul weights are read in place from the mapped .pb in TF's layout instead of
packed copies, where oneDNN has a non-reference kernel for that layout and the bytes lie in the
file 4-byte aligned (TF does not align tensor_content: pbmem copies unaligned content at load,
and such weights are packed as before).

Each per-op graph is written twice with a padding node in front, so that the weight's
tensor_content lands 4-byte aligned (mapped) or not (packed fallback). Outputs are compared to
TF and to packed mode, and the memory plan must still equal the run's measured peak.
"""
import json

import numpy as np
import pytest

import models
import tfcheck
from cli import assert_cli_error, assert_ok, import_pbmem, run_cli

TOL = 2e-5
ZOO_TOL = 1e-4
WORD = 4  # float32: the alignment the file's tensor_content needs to be viewed in place
MAX_PAD_NAME = 16


# ---- protobuf offsets: where a Const's tensor_content starts in the serialized GraphDef ----

def _varint(b, i):
    value = shift = 0
    while True:
        c = b[i]
        i += 1
        value |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return value, i


def _fields(b, start, end):
    """(field, wire type, start, end) of each length-delimited field in b[start:end]."""
    i = start
    while i < end:
        key, i = _varint(b, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, i = _varint(b, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            n, i = _varint(b, i)
            yield field, i, i + n
            i += n
        else:
            raise ValueError(f"wire type {wire}")


def _content_offset(data, node_name):
    """File offset of node_name's value.tensor_content (GraphDef.node=1, NodeDef.name=1,
    NodeDef.attr=5, AttrValue.tensor=8, TensorProto.tensor_content=4)."""
    for f, s, e in _fields(data, 0, len(data)):
        if f != 1:
            continue
        name = None
        for f2, s2, e2 in _fields(data, s, e):
            if f2 == 1:
                name = data[s2:e2].decode()
            if f2 == 5 and name == node_name:
                for f3, s3, e3 in _fields(data, s2, e2):
                    for f4, s4, e4 in _fields(data, s3, e3) if f3 == 2 else ():
                        for f5, s5, _ in _fields(data, s4, e4) if f4 == 8 else ():
                            if f5 == 4:
                                return s5
    raise AssertionError(f"no tensor_content for node {node_name}")


def _place_weights(data, const_name, aligned):
    """The GraphDef with a NoOp in front whose name length puts const_name's content at an
    offset that is (aligned) or is not a multiple of 4."""
    tf = tfcheck._tf()
    for length in range(1, MAX_PAD_NAME):
        graph_def = tf.compat.v1.GraphDef()
        graph_def.ParseFromString(data)
        pad = graph_def.node.add()
        pad.name = "pad_" + "p" * length
        pad.op = "NoOp"
        nodes = list(graph_def.node)
        del graph_def.node[:]
        graph_def.node.extend([nodes[-1]] + nodes[:-1])
        out = graph_def.SerializeToString()
        if (_content_offset(out, const_name) % WORD == 0) == aligned:
            return out
    raise AssertionError("no padding length gives the wanted alignment")


# ---- helpers ----

def _graph(build, inputs, const_name, aligned, stem):
    data, names, want = tfcheck.build_tf1_graph(build, inputs)
    path = tfcheck.save_graph_bytes(_place_weights(data, const_name, aligned), stem)
    return path, names, want


def _run(path, inputs, names, weights):
    """Outputs, the plan and the run's stats of a fresh model in the given weights mode."""
    pbmem = import_pbmem()
    model = pbmem.load(path, weights=weights)
    shapes = {k: np.shape(v) for k, v in inputs.items()}
    plan = model.plan(input_shapes=shapes, outputs=names)
    got = model.run(inputs, outputs=names)
    stats = model.stats()
    assert stats["max_bytes_in_use"] == plan["predicted_peak_bytes"], (weights, stats, plan)
    return {k: np.array(v) for k, v in got.items()}, plan


def _check_modes(path, inputs, names, want, weight_bytes, expect_mapped, packed_may_map=False,
                 unfused_in_mapped=0):
    """packed_may_map: oneDNN's preferred layout may be TF's (f32 matmul on oneDNN 2.x: plain
    [K, N]), in which case packed mode reads the file's bytes in place too. unfused_in_mapped:
    nodes fused in packed mode that mapped mode runs on their own (a BatchNorm scale is not
    folded into a mapped filter, nor what follows it)."""
    packed_out, packed = _run(path, inputs, names, "packed")
    mapped_out, mapped = _run(path, inputs, names, "mapped")
    for name, w in zip(names, want):
        tfcheck.assert_matches(packed_out[name], w, name=f"packed {name}", tol=TOL)
        tfcheck.assert_matches(mapped_out[name], w, name=f"mapped {name}", tol=TOL)
        tfcheck.assert_matches(mapped_out[name], packed_out[name], name=f"mapped vs packed {name}",
                               tol=TOL)
    assert mapped["fused_nodes"] == packed["fused_nodes"] - unfused_in_mapped
    # Otherwise packed mode packs these weights (oneDNN prefers a blocked layout for them).
    packed_in_place = packed["weights_mapped_bytes"]
    assert packed_in_place in ((0, weight_bytes) if packed_may_map and expect_mapped else (0,))
    if expect_mapped:
        assert mapped["weights_mapped_bytes"] == weight_bytes
        assert mapped["weights_mapped_layers"] == 1
        # The filter's packed copy is gone; a fused bias stays (one float per channel).
        assert mapped["weights_packed_bytes"] <= \
            packed["weights_packed_bytes"] + packed_in_place - weight_bytes + 4096
    else:
        assert mapped["weights_mapped_bytes"] == 0
        assert mapped["weights_packed_bytes"] == packed["weights_packed_bytes"]
        assert mapped["weights_mapped_layers"] == 0
    return packed, mapped


def _bn(rng, c):
    return (rng.standard_normal(c).astype(np.float32), rng.uniform(0.5, 1.5, c).astype(np.float32),
            rng.standard_normal(c).astype(np.float32))


# ---- per-op graphs ----

@pytest.mark.parametrize("aligned", [True, False], ids=["aligned", "unaligned"])
@pytest.mark.parametrize("epilogue", ["none", "bias_relu", "bias_bn_relu6"])
def test_conv2d(epilogue, aligned):
    tf = tfcheck._tf()
    rng = tfcheck.rng(11)
    x = rng.standard_normal((2, 13, 11, 32)).astype(np.float32)
    f = rng.standard_normal((3, 3, 32, 48)).astype(np.float32)  # 55 KiB: viewed in the file
    bias, scale, beta = _bn(rng, 48)

    def build(x):
        y = tf.nn.conv2d(x, tf.constant(f, name="filter"), strides=[1, 2, 1, 1], padding="SAME")
        if epilogue != "none":
            y = tf.nn.bias_add(y, bias)
        if epilogue == "bias_bn_relu6":
            return tf.nn.relu6(y * scale + beta)
        return tf.nn.relu(y) if epilogue == "bias_relu" else y
    path, names, want = _graph(build, {"x": x}, "filter", aligned, f"mapped_conv_{epilogue}")
    # BatchNorm's Mul, AddV2 and the Relu6 leave the conv's chain when the filter is mapped; the
    # Mul then computes itself, the AddV2 and the Relu6 in one pass (the Mul alone runs).
    unfused = 1 if aligned and epilogue == "bias_bn_relu6" else 0
    _check_modes(path, {"x": x}, names, want, f.nbytes, expect_mapped=aligned,
                 unfused_in_mapped=unfused)


@pytest.mark.parametrize("aligned", [True, False], ids=["aligned", "unaligned"])
@pytest.mark.parametrize("epilogue", ["none", "bn_relu6"])
def test_depthwise(epilogue, aligned):
    """Packed in both modes: on TF's layout oneDNN runs a depthwise conv as one GEMM per group
    (~30x slower than its depthwise kernel on packed weights), for a few KiB saved."""
    tf = tfcheck._tf()
    rng = tfcheck.rng(12)
    # Multiplier 1 (MobileNet's): packed mode uses oneDNN's blocked depthwise kernel.
    x = rng.standard_normal((1, 10, 12, 512)).astype(np.float32)
    f = rng.standard_normal((3, 3, 512, 1)).astype(np.float32)  # 18 KiB
    _, scale, beta = _bn(rng, 512)

    def build(x):
        y = tf.nn.depthwise_conv2d(x, tf.constant(f, name="filter"), strides=[1, 2, 2, 1],
                                   padding="SAME")
        return tf.nn.relu6(y * scale + beta) if epilogue == "bn_relu6" else y
    path, names, want = _graph(build, {"x": x}, "filter", aligned, f"mapped_dw_{epilogue}")
    _check_modes(path, {"x": x}, names, want, f.nbytes, expect_mapped=False)


@pytest.mark.parametrize("aligned", [True, False], ids=["aligned", "unaligned"])
@pytest.mark.parametrize("epilogue", ["none", "bias_relu"])
def test_matmul(epilogue, aligned):
    tf = tfcheck._tf()
    rng = tfcheck.rng(13)
    x = rng.standard_normal((5, 300)).astype(np.float32)
    w = rng.standard_normal((300, 70)).astype(np.float32)  # 82 KiB
    bias = rng.standard_normal(70).astype(np.float32)

    def build(x):
        y = tf.matmul(x, tf.constant(w, name="weights"))
        return tf.nn.relu(tf.nn.bias_add(y, bias)) if epilogue == "bias_relu" else y
    path, names, want = _graph(build, {"x": x}, "weights", aligned, f"mapped_matmul_{epilogue}")
    _check_modes(path, {"x": x}, names, want, w.nbytes, expect_mapped=aligned, packed_may_map=True)


def test_folded_filter_is_packed():
    """A filter computed at prepare (here a Transpose of a constant) is not file-backed: packed."""
    tf = tfcheck._tf()
    rng = tfcheck.rng(14)
    x = rng.standard_normal((1, 9, 9, 32)).astype(np.float32)
    f = rng.standard_normal((48, 3, 3, 32)).astype(np.float32)

    def build(x):
        filt = tf.transpose(tf.constant(f, name="filter"), [1, 2, 3, 0])
        return tf.nn.relu(tf.nn.conv2d(x, filt, strides=[1, 1, 1, 1], padding="VALID"))
    path, names, want = _graph(build, {"x": x}, "filter", True, "mapped_folded")
    _check_modes(path, {"x": x}, names, want, f.nbytes, expect_mapped=False)


# ---- flags ----

def test_bad_weights_value_is_an_error(tmp_path):
    pbmem = import_pbmem()
    path = str(tmp_path / "example.pb")
    assert_ok(run_cli(["example", path]))
    for command in (["plan", path, "--batch", "1"], ["bench", path, "--runs", "1"],
                    ["fit", path, "--memory-limit", "1G"]):
        result = run_cli(command + ["--weights", "copied"])
        assert_cli_error(result, "--weights must be 'packed' or 'mapped', got 'copied'")
    with pytest.raises(pbmem.Error, match="weights must be 'packed' or 'mapped', got 'copied'"):
        pbmem.load(path, weights="copied")
    assert pbmem.load(path).weights == "packed"
    assert pbmem.load(path, weights="mapped").weights == "mapped"


def test_cli_plan_and_run_report_mapped_weights(tmp_path):
    tf = tfcheck._tf()
    rng = tfcheck.rng(15)
    x = rng.standard_normal((1, 8, 8, 32)).astype(np.float32)
    f = rng.standard_normal((3, 3, 32, 64)).astype(np.float32)

    def build(x):
        return tf.nn.conv2d(x, tf.constant(f, name="filter"), strides=[1, 1, 1, 1], padding="SAME")
    path, _, _ = _graph(build, {"x": x}, "filter", True, "mapped_cli")
    for mode, mapped_bytes in (("packed", 0), ("mapped", f.nbytes)):
        result = run_cli(["plan", path, "--json", "--weights", mode])
        assert_ok(result)
        plan = json.loads(result.stdout)
        assert plan["weights_mapped_bytes"] == mapped_bytes
        assert plan["weights_mapped_layers"] == (1 if mapped_bytes else 0)
        np.save(tmp_path / "x.npy", x)
        stats_path = tmp_path / f"stats-{mode}.json"
        result = run_cli(["run", path, "--input", f"x={tmp_path / 'x.npy'}", "--weights", mode,
                          "--stats-json", str(stats_path)])
        assert_ok(result)
        stats = json.loads(stats_path.read_text())
        assert stats["weights_mapped_bytes"] == mapped_bytes
        assert stats["max_bytes_in_use"] == stats["predicted_peak_bytes"]


# ---- the zoo ----

@pytest.mark.parametrize("batch", [1, 2], ids=lambda b: f"batch{b}")
@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet50"])
def test_zoo_mapped_matches_tf_and_packed(name, batch):
    pbmem = import_pbmem()
    info = models.get_model(name)
    feeds = info.random_inputs(batch)
    tensor_names = [info.outputs["logits"]] if "logits" in info.outputs else list(info.outputs.values())
    want = models.run_tf(info, feeds, tensor_names)
    results = {}
    for mode in ("packed", "mapped"):
        model = pbmem.load(info.path, weights=mode)
        plan = model.plan(input_shapes={k: v.shape for k, v in feeds.items()}, outputs=tensor_names)
        got = model.run(feeds, outputs=tensor_names)
        stats = model.stats()
        assert stats["max_bytes_in_use"] == plan["predicted_peak_bytes"], (mode, stats)
        results[mode] = ({k: np.array(v) for k, v in got.items()}, plan)
        del model
    for tensor, w in zip(tensor_names, want):
        scale = max(1.0, float(np.max(np.abs(w))))
        for mode in ("packed", "mapped"):
            err = float(np.max(np.abs(results[mode][0][tensor] - w)))
            assert err <= ZOO_TOL * scale, f"{name} {mode} {tensor}: {err} > {ZOO_TOL}*{scale}"
    packed, mapped = results["packed"][1], results["mapped"][1]
    assert mapped["weights_mapped_bytes"] > 0 and mapped["weights_mapped_layers"] > 0
    assert mapped["weights_packed_bytes"] < packed["weights_packed_bytes"]
    # Every weight byte is held either way: mapped + packed covers what packed mode packed,
    # up to layout padding and the per-channel vectors.
    print(f"\n[{name} batch {batch}] packed: {packed['weights_packed_bytes']} B packed; mapped: "
          f"{mapped['weights_mapped_bytes']} B mapped ({mapped['weights_mapped_layers']} layers) + "
          f"{mapped['weights_packed_bytes']} B packed ({mapped['weights_packed_layers']} layers); "
          f"scratch {packed['scratch_bytes']} -> {mapped['scratch_bytes']}")
