"""Graph edits before and after int8 quantization: BatchNorm after a Concat of convolutions folded into them (MindCV's
split MixConv), and the quantized graph's names compacted, both without changing what the graph computes."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx package builds the test graphs")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime runs them")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from mindcv.eval.quantize import compact_names, fold_concat_batchnorms  # noqa: E402


def _split_conv_bn_graph(rng) -> onnx.ModelProto:
    """x (1, 5, 6, 6) -> Slice into 3 + 2 channels -> a 3x3 and a 5x5 depthwise conv (one with a bias) -> Concat
    -> BatchNormalization -> Relu: a two-group MixConv as MindSpore exports it."""
    inits = [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in
             (("s0", [0]), ("e0", [3]), ("s1", [3]), ("e1", [5]), ("ax", [1]))]
    inits += [numpy_helper.from_array(rng.normal(size=(3, 1, 3, 3)).astype(np.float32), "group0.weight"),
              numpy_helper.from_array(rng.normal(size=(2, 1, 5, 5)).astype(np.float32), "group1.weight"),
              numpy_helper.from_array(rng.normal(size=2).astype(np.float32), "group1.bias")]
    for name, values in (("gamma", rng.uniform(0.5, 1.5, 5)), ("beta", rng.normal(size=5)),
                         ("mean", rng.normal(size=5)), ("var", rng.uniform(0.5, 1.5, 5))):
        inits.append(numpy_helper.from_array(values.astype(np.float32), name))
    nodes = [helper.make_node("Slice", ["x", "s0", "e0", "ax"], ["a"]),
             helper.make_node("Slice", ["x", "s1", "e1", "ax"], ["b"]),
             helper.make_node("Conv", ["a", "group0.weight"], ["ca"], group=3, pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["b", "group1.weight", "group1.bias"], ["cb"], group=2, pads=[2, 2, 2, 2]),
             helper.make_node("Concat", ["ca", "cb"], ["cat"], axis=1),
             helper.make_node("BatchNormalization", ["cat", "gamma", "beta", "mean", "var"], ["bn"], epsilon=1e-3),
             helper.make_node("Relu", ["bn"], ["y"], name="a_long_node_name_as_quantization_writes_them")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5, 6, 6])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_batchnorm_after_a_concat_of_convolutions_is_folded_into_them():
    rng = np.random.default_rng(0)
    model = _split_conv_bn_graph(rng)
    x = rng.normal(size=(1, 5, 6, 6)).astype(np.float32)
    before = _run(model, x)
    assert fold_concat_batchnorms(model.graph) == 1
    assert "BatchNormalization" not in {n.op_type for n in model.graph.node}
    assert not {"gamma", "beta", "mean", "var"} & {i.name for i in model.graph.initializer}  # unused: removed
    assert all(len(n.input) == 3 for n in model.graph.node if n.op_type == "Conv")  # both now carry a bias
    np.testing.assert_allclose(_run(model, x), before, rtol=1e-5, atol=1e-5)


def test_compacted_names_keep_the_interface_and_the_float_weights():
    rng = np.random.default_rng(1)
    model = _split_conv_bn_graph(rng)
    x = rng.normal(size=(1, 5, 6, 6)).astype(np.float32)
    before = _run(model, x)
    size = len(model.SerializeToString())
    compact_names(model.graph)
    names = {i.name for i in model.graph.initializer}
    assert {"group0.weight", "group1.weight", "group1.bias"} <= names  # float weights a conv reads keep theirs
    assert "s0" not in names and all(n.name == "" for n in model.graph.node)
    assert [v.name for v in model.graph.input] == ["x"] and [v.name for v in model.graph.output] == ["y"]
    assert len(model.SerializeToString()) < size
    np.testing.assert_array_equal(_run(model, x), before)
