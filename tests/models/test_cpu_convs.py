"""CPU convolutions: none of the models leaves a grouped or k x k dense convolution to oneDNN (whose scalar
reference kernel runs them on AVX-512 CPUs: invisible by timing on an AVX2 machine, so the structure is
asserted), the fast forms equal nn.Conv2d (outputs and gradients), and the native library is built only
explicitly or on first use, never by a model's constructor."""
import collections
import functools
import os
import subprocess
import sys

import numpy as np
import pytest

import mindspore as ms
from mindspore import nn

from mindcv.models import create_model, list_models
from mindcv.models.layers import native
from mindcv.models.layers.conv2d import Conv2d, ConvKernel, conv_kind
from mindcv.models.layers.mixconv import GroupedConv2d, MixConv2d
from mindcv.models.layers.mixconv_fused import FusedDepthwise
from mindcv.models.layers.mixconv_native import NativeDepthwise

ms.set_context(mode=ms.PYNATIVE_MODE)

NATIVE_REASON = native.unavailable_reason() or (native.ensure_built() and "")
needs_native = pytest.mark.skipif(bool(NATIVE_REASON), reason=f"native operators unavailable: {NATIVE_REASON}")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def rel_err(ref: np.ndarray, other: np.ndarray) -> float:
    return float(np.abs(ref - other).max() / max(np.abs(ref).max(), 1e-12))


def convs_left_to_onednn(model: nn.Cell) -> list:
    """Names of the convolutions the model hands to oneDNN's Conv2D that are not dense 1 x 1."""
    slow = []
    for name, cell in model.cells_and_names():
        if isinstance(cell, ConvKernel):
            if cell.kind == "conv2d" and (cell.group > 1 or cell.kernel_size > 1):
                slow.append(name)
        elif isinstance(cell, FusedDepthwise) and not isinstance(cell, NativeDepthwise):
            slow.append(name)  # one oneDNN depthwise Conv2D (group = C)
        elif isinstance(cell, nn.Conv2d) and not _owned_by_fast_layer(model, name):
            kind = cell.kind if isinstance(cell, Conv2d) else "conv2d"
            if kind == "conv2d" and (cell.group > 1 or cell.kernel_size != (1, 1)):
                slow.append(name)
    return slow


def _owned_by_fast_layer(model: nn.Cell, name: str) -> bool:
    """Whether ``name`` is a parameter holder of a MixConv / grouped conv that runs its own fast form."""
    cells = dict(model.cells_and_names())
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        owner = cells.get(".".join(parts[:i]))
        if isinstance(owner, MixConv2d) and owner.impl == "native":
            return True
        if isinstance(owner, GroupedConv2d) and owner.impl == "grouped":
            return True
    return False


@needs_native
@pytest.mark.parametrize("name", sorted(list_models("*mixnet*") + list_models("mobilenet*")))
def test_no_model_leaves_a_grouped_or_k_by_k_conv_to_onednn(name):
    model = create_model(name, num_classes=10)
    assert convs_left_to_onednn(model) == []
    assert convs_left_to_onednn(create_model(name, num_classes=10, mixconv_impl="split"))  # the check can fail
    grouped = [c for _, c in model.cells_and_names() if isinstance(c, GroupedConv2d) and c.num_groups > 1]
    assert all(c.conv.kind == "matmul" for c in grouped)
    assert model.stem_conv[0].kind == "native"


@functools.lru_cache(maxsize=None)
def compiled_graph(impl: str = "auto", train: bool = True):
    """The optimised graph (anf_ir ModelProto) of a MixNet-S (width 0.5) SGD train step at 32 x 32, batch 2; with
    ``train=False``, of its forward pass in inference mode (a third of the compile time)."""
    from mindspore.common.api import _cell_graph_executor
    from mindspore.train import anf_ir_pb2

    ms.set_context(mode=ms.GRAPH_MODE)
    try:
        model = create_model("mixnet_s", num_classes=10, width_multiplier=0.5, drop_rate=0.0, mixconv_impl=impl)
        images = ms.Tensor(np.zeros((2, 3, 32, 32), np.float32))
        if train:
            loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
            net = nn.TrainOneStepCell(nn.WithLossCell(model, loss), nn.SGD(model.trainable_params(), 0.01))
            net.set_train(True)
            net.compile(images, ms.Tensor(np.zeros((2,), np.int32)))
        else:
            net = model
            net.set_train(False)
            net.compile(images)
        proto = anf_ir_pb2.ModelProto()
        proto.ParseFromString(_cell_graph_executor.get_optimize_graph_proto(net))
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)
    return proto


@needs_native
def test_the_compiled_train_graph_has_only_dense_1x1_conv2d():
    """Forward and backward of MixNet-S as compiled: every Conv2D node (and its backward) is a dense 1 x 1."""
    proto = compiled_graph()
    convs = [node for node in proto.graph.node if "Conv2D" in node.op_type]
    assert convs, "the 1 x 1 head / SE convolutions should still be Conv2D nodes"
    customs = [node for node in proto.graph.node if node.op_type == "Custom"]
    assert len(customs) >= 3 * 16  # forward, backward-data, backward-weight of MixConvs and the stem
    for node in convs:
        attrs = {a.name: a.value for a in node.attribute}
        assert "group" in attrs and "kernel_size" in attrs, (node.op_type, sorted(attrs))
        group = attrs["group"].int_val
        kernel = [v.int_val for v in attrs["kernel_size"].values]
        assert group == 1 and kernel[-2:] == [1, 1], (node.op_type, node.full_name, group, kernel)


@needs_native
def test_the_compiled_train_graph_has_no_per_element_index_kernels_or_bn_slices():
    """Peak training memory on CPU (docs/performance.md): MindSpore 2.10's CPU Mul, broadcasting squeeze-excite's
    (N, C, 1, 1) gate over H x W, keeps two size_t indices per element for the whole run, and ops.matmul
    broadcasting the grouped 1 x 1 conv's weight (MatMulExt) transposes activations in its backward (one
    index per element each); every graph node also costs compile-time memory for the run, so the native
    BatchNorm's per-channel results are separate outputs, not slices of one."""
    counts = collections.Counter(node.op_type for node in compiled_graph().graph.node)
    assert counts["Mul"] == 0 and counts["MatMulExt"] == 0 and counts["StridedSlice"] == 0, counts
    assert counts["Custom"] > 0
    # MindCV's graph: the squeeze-excite gate is a Mul (the check can fail); the forward pass has it already
    split = collections.Counter(node.op_type for node in compiled_graph("split", train=False).graph.node)
    assert split["Mul"] > 0


GEOMETRIES = [  # in, out, kernel, stride, pad_mode, padding, dilation, group, bias
    (3, 16, 3, 2, "pad", 1, 1, 1, False),
    (3, 8, 3, 2, "same", 0, 1, 1, False),
    (4, 6, 5, 1, "pad", 2, 1, 2, True),
    (6, 4, 3, 1, "same", 0, 2, 1, False),
    (8, 12, 1, 1, "pad", 0, 1, 2, False),
    (8, 12, 1, 1, "same", 0, 1, 4, True),
    (48, 40, 1, 1, "pad", 0, 1, 2, False),  # small maps: the transposed matmul
]


@needs_native
@pytest.mark.parametrize("cin,cout,k,stride,pad_mode,padding,dilation,group,bias", GEOMETRIES)
def test_fast_conv2d_equals_nn_conv2d(cin, cout, k, stride, pad_mode, padding, dilation, group, bias):
    kwargs = dict(in_channels=cin, out_channels=cout, kernel_size=k, stride=stride, pad_mode=pad_mode,
                  padding=padding, dilation=dilation, group=group, has_bias=bias)
    ref, fast = nn.Conv2d(**kwargs), Conv2d(**kwargs)
    assert fast.kind == ("matmul" if k == 1 else "native")
    assert [(p.name, p.shape) for p in ref.get_parameters()] == [(p.name, p.shape) for p in fast.get_parameters()]
    for p_ref, p_fast in zip(ref.get_parameters(), fast.get_parameters()):
        p_fast.set_data(ms.Tensor(np.random.default_rng(1).normal(size=p_ref.shape).astype(np.float32)))
        p_ref.set_data(p_fast.data.copy())
    rng = np.random.default_rng(0)
    for shape in [(2, cin, 11, 9), (1, cin, 20, 20), (3, cin, 2, 3)]:
        x = ms.Tensor(rng.normal(size=shape).astype(np.float32))
        out_shape = ref(x).shape
        dy = ms.Tensor(rng.normal(size=out_shape).astype(np.float32))
        results = []
        for layer in (ref, fast):
            grads = ms.grad(lambda inp, layer=layer: (layer(inp) * dy).sum(), grad_position=0,
                            weights=layer.trainable_params())(x)
            results.append([layer(x).asnumpy(), grads[0].asnumpy()] + [g.asnumpy() for g in grads[1]])
        for a, b in zip(*results):
            assert a.shape == b.shape and rel_err(a, b) <= 1e-5


def test_conv_kind_leaves_dense_1x1_and_other_devices_to_conv2d():
    assert conv_kind(1, 1, 1, "pad", 0, 1, device_cpu=True) == "conv2d"
    assert conv_kind(1, 1, 1, "pad", 0, 2, device_cpu=True) == "matmul"
    assert conv_kind(1, 2, 1, "pad", 0, 2, device_cpu=True) == "conv2d"  # strided grouped 1 x 1: no model has one
    assert conv_kind(3, 2, 1, "pad", 1, 1, device_cpu=False) == "conv2d"
    assert conv_kind(3, 3, 1, "pad", 1, 1, device_cpu=True) == "conv2d"  # stride 3: not native
    assert conv_kind(4, 1, 1, "pad", 2, 1, device_cpu=True) == "conv2d"  # even kernel


def test_constructing_a_model_compiles_nothing_and_leaves_the_environment_alone(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a constructor compiled the native library")

    monkeypatch.setattr(native, "build_library", refuse)
    monkeypatch.setattr(native, "_state", {"library": None, "error": ""})
    before = dict(os.environ)
    create_model("mixnet_s", num_classes=10)
    create_model("mobilenet_v2", num_classes=10)
    assert dict(os.environ) == before


@needs_native
def test_native_build_command_prints_the_library(tmp_path):
    env = dict(os.environ, MINDCV_NATIVE_CACHE=str(tmp_path), PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, "-m", "mindcv.models.layers.native"], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=120)
    assert result.returncode == 0 and "not built yet" in result.stdout and os.listdir(tmp_path) == []
    result = subprocess.run([sys.executable, "-m", "mindcv.models.layers.native", "--build"], capture_output=True,
                            text=True, env=env, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "compiling the native CPU operators" in result.stdout and "built in" in result.stdout
    library = result.stdout.strip().splitlines()[-1].split(" (")[0]
    assert result.stdout.strip().endswith("(built)") and sorted(os.listdir(tmp_path)) == sorted(
        [os.path.basename(library), os.path.basename(native.record_path(library))])  # the library, its size/hash


def test_importing_mindcv_changes_no_environment():
    """No oneDNN cap or other variable is set at import: speed cannot depend on import order."""
    code = ("import os, sys; before = dict(os.environ); import mindcv; "
            "import mindspore; after = dict(os.environ); print(sorted(set(after.items()) ^ set(before.items())))")
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
    result = subprocess.run([sys.executable, "-c", code, ROOT], capture_output=True, text=True, env=env, timeout=120,
                            cwd=ROOT)  # cwd first on the path: this clone's mindcv
    assert result.returncode == 0, result.stderr
    changed = eval(result.stdout.strip().splitlines()[-1])  # noqa: S307 (our own repr of a list of pairs)
    assert not [k for k, _ in changed if k.startswith(("ONEDNN", "OMP", "GOMP", "MS_CUSTOM"))], changed
