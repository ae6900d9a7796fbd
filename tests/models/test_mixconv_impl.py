"""MixConv implementations: each one against ``split`` (outputs, input and weight gradients), the choice
of ``auto``, fallbacks, checkpoint compatibility, a whole MixNet-S train step, and the benchmark's helpers."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import mindspore as ms
from mindspore import nn, ops

from mindcv.models import create_model
from mindcv.models.layers import mixconv as mixconv_module
from mindcv.models.layers.mixconv import MixConv2d, resolve_impl
from mindcv.models.layers import native
from mindcv.models.layers.mixconv_fused import embed_kernel, fused_geometry, fusion_blocker
from mindcv.models.layers.mixconv_native import build_library, native_config, native_status
from mindcv.models.mixnet import MixNetBlock

ms.set_context(mode=ms.PYNATIVE_MODE)

RTOL = 1e-4  # relative error bound: max |a - b| / max |a|
NATIVE_REASON = native_status()  # builds the native library once (cached) or says why it cannot
IMPLS = ["fused", pytest.param("native", marks=pytest.mark.skipif(
    bool(NATIVE_REASON), reason=f"native MixConv unavailable: {NATIVE_REASON}"))]
BENCHMARK = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                         "benchmarks", "throughput.py")


def rel_err(ref: np.ndarray, other: np.ndarray) -> float:
    """Largest absolute difference relative to the largest magnitude of the reference."""
    return float(np.abs(ref - other).max() / max(np.abs(ref).max(), 1e-12))


def twin_layers(impl: str, channels: int, **kwargs) -> tuple:
    """A split layer and an ``impl`` layer with the same weights."""
    ref = MixConv2d(channels, impl="split", **kwargs)
    other = MixConv2d(channels, impl=impl, **kwargs)
    for p_ref, p_other in zip(ref.get_parameters(), other.get_parameters()):
        assert p_ref.name == p_other.name
        p_other.set_data(p_ref.data.copy())
    return ref, other


def outputs_and_grads(layer: MixConv2d, x: ms.Tensor, dy: ms.Tensor) -> list:
    """[output, d(x), d(weight of each group)] of <layer(x), dy>."""
    def loss(inp):
        return (layer(inp) * dy).sum()

    out = layer(x)
    grad_x, grad_w = ms.grad(loss, grad_position=0, weights=layer.trainable_params())(x)
    return [out.asnumpy(), grad_x.asnumpy()] + [g.asnumpy() for g in grad_w]


CASES = [  # kernels, stride, dilation, partition, padding, batch, height, width, dilated
    ([3, 5, 7], 1, 1, "equal", "symmetric", 2, 9, 10, False),
    ([3, 5, 7, 9], 2, 1, "exponential", "symmetric", 1, 11, 11, False),
    ([3, 5, 7, 9, 11, 13], 1, 1, "equal", "symmetric", 2, 13, 13, False),
    ([3, 5, 7, 9, 11, 13], 2, 1, "equal", "same", 3, 15, 14, False),
    ([3, 5], 2, 2, "equal", "symmetric", 2, 9, 9, False),
    ([3, 5], 1, [1, 2], "exponential", "symmetric", 1, 8, 11, False),
    ([3, 5, 7], 2, 1, "equal", "symmetric", 2, 10, 9, True),
    ([3, 5, 7], 1, 1, "equal", "same", 1, 9, 9, True),
    ([5, 9], 2, 1, "equal", "same", 2, 7, 8, False),
    ([1, 3, 5], 2, 1, "equal", "symmetric", 2, 9, 9, False),
    # maps of at most 16 outputs take the native kernels' small-plane path (csrc/mixconv_native.cc)
    ([3, 5, 7, 9], 1, 1, "equal", "symmetric", 2, 1, 1, False),
    ([3, 5, 7], 2, 1, "exponential", "same", 2, 4, 3, False),
    ([3, 5], 1, 2, "equal", "symmetric", 3, 4, 4, False),
    ([3, 5, 7], 2, 1, "equal", "symmetric", 1, 5, 6, True),
]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("kernels,stride,dilation,partition,padding,batch,height,width,dilated", CASES)
def test_impl_equals_split(impl, kernels, stride, dilation, partition, padding, batch, height, width, dilated):
    channels = 24
    ref, fused = twin_layers(impl, channels, kernel_size=kernels, stride=stride, dilation=dilation,
                             partition=partition, padding=padding, dilated=dilated)
    assert fused.impl == impl and ref.impl == "split"
    rng = np.random.default_rng(len(kernels) * 10 + stride)
    x = ms.Tensor(rng.normal(size=(batch, channels, height, width)).astype(np.float32))
    out_shape = (batch, channels, -(-height // stride), -(-width // stride))
    dy = ms.Tensor(rng.normal(size=out_shape).astype(np.float32))
    expected, actual = outputs_and_grads(ref, x, dy), outputs_and_grads(fused, x, dy)
    assert expected[0].shape == out_shape
    for name, a, b in zip(["output", "input grad"] + [f"weight {i} grad" for i in range(len(kernels))],
                          expected, actual):
        assert a.shape == b.shape, name
        assert rel_err(a, b) <= RTOL, (name, rel_err(a, b))


@pytest.mark.parametrize("impl", IMPLS)
def test_impl_differs_when_weights_differ(impl):
    """The comparison above can fail: a layer with other weights gives other outputs."""
    x = ms.Tensor(np.random.default_rng(0).normal(size=(1, 12, 7, 7)).astype(np.float32))
    ref = MixConv2d(12, [3, 5, 7], impl="split")
    other = MixConv2d(12, [3, 5, 7], impl=impl)
    assert rel_err(ref(x).asnumpy(), other(x).asnumpy()) > 0.1


@pytest.mark.parametrize("impl", IMPLS)
def test_single_kernel_layer_equals_split(impl):
    ref, other = twin_layers(impl, 10, kernel_size=5, stride=2)
    assert other.impl == ("split" if impl == "fused" else impl)
    x = ms.Tensor(np.random.default_rng(4).normal(size=(2, 10, 9, 8)).astype(np.float32))
    dy = ms.Tensor(np.random.default_rng(5).normal(size=(2, 10, 5, 4)).astype(np.float32))
    for a, b in zip(outputs_and_grads(ref, x, dy), outputs_and_grads(other, x, dy)):
        assert rel_err(a, b) <= RTOL


def test_fused_geometry_uses_the_common_dilation():
    assert fused_geometry([3, 5, 7], [1, 1, 1]) == (1, [1, 1, 1], 7)
    assert fused_geometry([3, 5], [2, 2]) == (2, [1, 1], 5)
    assert fused_geometry([3, 3, 3], [1, 2, 3]) == (1, [1, 2, 3], 7)
    assert fused_geometry([3, 3], [2, 4]) == (2, [1, 2], 5)


def test_embed_kernel_spreads_and_centres_taps():
    w = np.arange(1, 10, dtype=np.float32).reshape(1, 1, 3, 3)
    out = embed_kernel(ms.Tensor(w), 2, 7).asnumpy()[0, 0]
    expected = np.zeros((7, 7), np.float32)
    expected[1:6:2, 1:6:2] = w[0, 0]
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("impl", ["fused", "native"])
def test_one_by_one_group_with_same_padding_and_stride_2_falls_back_to_split(impl):
    assert fusion_blocker([1, 3], [1, 1], 2, "same") is not None
    assert fusion_blocker([1, 3], [1, 1], 1, "same") is None
    assert fusion_blocker([1, 3], [1, 1], 2, "symmetric") is None
    mixconv_module._warned.clear()
    layer = MixConv2d(8, [1, 3], stride=2, padding="same", impl=impl)
    assert layer.impl == "split" and layer.requested_impl == impl and layer.fused is None
    assert any(f"runs 'split' instead of '{impl}'" in message for message in mixconv_module._warned)


def test_single_group_fused_is_the_plain_depthwise_conv():
    layer = MixConv2d(8, 5, impl="fused")
    assert layer.impl == "split" and layer.fused is None


def test_auto_is_native_on_cpu_fused_on_ascend_split_on_gpu():
    assert resolve_impl("auto") == "native"  # these tests run on CPU
    assert resolve_impl("auto", "GPU") == "split"
    assert resolve_impl("auto", "Ascend") == "fused"
    assert resolve_impl("fused", "CPU") == "fused"
    assert MixConv2d(8, [3, 5], impl="auto").impl == ("split" if NATIVE_REASON else "native")


def test_native_without_its_library_falls_back_to_split_with_one_warning(monkeypatch):
    monkeypatch.setattr(native, "_state", {"library": None, "error": "test: no compiler here"})
    mixconv_module._warned.clear()
    layers = [MixConv2d(8, [3, 5], impl=impl) for impl in ("native", "auto", "native")]
    assert [layer.impl for layer in layers] == ["split"] * 3
    warnings = [m for m in mixconv_module._warned if "test: no compiler here" in m]
    assert len(warnings) == 1 and "instead of 'native'" in warnings[0]


def test_native_build_without_a_compiler_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-g++"))
    with pytest.raises(RuntimeError, match="no C\\+\\+ compiler"):
        build_library(str(tmp_path))


def test_native_white_list_is_only_read_and_must_contain_the_library(monkeypatch, tmp_path):
    library = str(tmp_path / "lib" / "x.so")
    monkeypatch.delenv("MS_CUSTOM_AOT_WHITE_LIST", raising=False)
    native.check_white_list(library)
    assert "MS_CUSTOM_AOT_WHITE_LIST" not in os.environ  # not set by the library
    monkeypatch.setenv("MS_CUSTOM_AOT_WHITE_LIST", str(tmp_path / "elsewhere"))
    with pytest.raises(RuntimeError, match="MS_CUSTOM_AOT_WHITE_LIST"):
        native.check_white_list(library)
    monkeypatch.setenv("MS_CUSTOM_AOT_WHITE_LIST", str(tmp_path))
    native.check_white_list(library)


def test_native_config_names_each_channels_window():
    config = native_config([2, 1, 1], [3, 5, 7], [1, 1, 1], 2, "same")
    assert config.tolist() == [2, 1, 1, 7, 2, 2, 1, 0]
    assert native_config([1, 1], [3, 3], [1, 2], 1, "symmetric").tolist() == [1, 1, 0, 5, 1, 0]


@pytest.mark.skipif(bool(NATIVE_REASON), reason=f"native MixConv unavailable: {NATIVE_REASON}")
def test_concurrent_native_builds_share_one_library(tmp_path):
    """Two processes building into one empty cache at once both succeed and leave one complete library."""
    code = ("import sys; from mindcv.models.layers.mixconv_native import build_library; "
            "print(build_library(sys.argv[1]))")  # run from the clone's root: its mindcv is imported
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, cwd=root,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    paths = {out.strip().splitlines()[-1] for out, _ in outputs}
    assert len(paths) == 1
    library = paths.pop()
    assert sorted(os.listdir(tmp_path)) == sorted([os.path.basename(library), os.path.basename(library) + ".json"])
    assert native.verify_library(library) == ""  # complete: its size and hash match the record beside it
    before = os.stat(library).st_mtime_ns
    assert build_library(str(tmp_path)) == library  # cached: not rebuilt
    assert os.stat(library).st_mtime_ns == before


@pytest.mark.parametrize("bad", ["fast", "", "Split", None])
def test_unknown_impl_is_an_error_naming_it(bad):
    with pytest.raises(ValueError, match=f"impl={bad!r}"):
        MixConv2d(8, [3, 5], impl=bad)
    with pytest.raises(ValueError, match=f"mixconv_impl={bad!r}"):
        MixNetBlock(create_model("mixnet_s", num_classes=10).block_args[3], mixconv_impl=bad)


def test_parameters_and_checkpoints_are_the_same_for_every_impl():
    split = create_model("mixnet_s", num_classes=10)
    fused = create_model("mixnet_s", num_classes=10, mixconv_impl="fused")
    assert [(p.name, p.shape) for p in split.get_parameters()] == \
           [(p.name, p.shape) for p in fused.get_parameters()]
    not_loaded, _ = ms.load_param_into_net(fused, {p.name: p for p in split.get_parameters()}, strict_load=True)
    assert not_loaded == []
    impls = {cell.impl for _, cell in fused.cells_and_names() if isinstance(cell, MixConv2d)}
    assert impls == {"fused", "split"}  # the single-kernel blocks stay plain depthwise convs


def test_block_passes_the_impl_to_its_mixconv():
    from mindcv.models.mixnet import ARCH_TABLES

    block = MixNetBlock(ARCH_TABLES["small"][1][3], mixconv_impl="fused")
    layers = [cell for _, cell in block.cells_and_names() if isinstance(cell, MixConv2d)]
    assert [layer.impl for layer in layers] == ["fused"]


@pytest.mark.parametrize("impl", IMPLS)
def test_train_step_runs_repeatedly_in_graph_mode(impl):
    """A compiled train step runs more than once (ops.pad's backward hangs on the 2nd run in 2.10)."""
    ms.set_context(mode=ms.GRAPH_MODE)
    try:
        layer = MixConv2d(12, [3, 5], dilation=[1, 2], impl=impl)
        net = nn.TrainOneStepCell(nn.WithLossCell(layer, nn.MSELoss()), nn.SGD(layer.trainable_params(), 0.1))
        x = ms.Tensor(np.random.default_rng(0).normal(size=(1, 12, 6, 6)).astype(np.float32))
        target = ops.zeros((1, 12, 6, 6), ms.float32)
        losses = [float(net(x, target).asnumpy()) for _ in range(3)]
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)
    assert losses[2] < losses[0]


def train_step_result(impl: str, x: np.ndarray, y: np.ndarray) -> tuple:
    """Loss, initial and updated parameters of one momentum-SGD step of MixNet-S (seeded initial weights)."""
    ms.set_seed(7)
    model = create_model("mixnet_s", num_classes=10, drop_rate=0.0, mixconv_impl=impl)
    loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
    opt = nn.Momentum(model.trainable_params(), learning_rate=0.01, momentum=0.9)
    step = nn.TrainOneStepCell(nn.WithLossCell(model, loss), opt)
    step.set_train(True)
    before = {p.name: p.asnumpy().copy() for p in model.get_parameters()}
    value = float(step(ms.Tensor(x), ms.Tensor(y)).asnumpy())
    return value, before, {p.name: p.asnumpy() for p in model.get_parameters()}


# 64 x 64 and batch 4 keep >= 16 values per channel in the last stage's batch-norm statistics: with
# fewer (32 x 32, batch 2: 2 values) train-mode BN turns float rounding differences into O(1) ones.
STEP_INPUT = (np.random.default_rng(3).normal(size=(4, 3, 64, 64)).astype(np.float32),
              np.array([1, 7, 3, 0], np.int32))


@pytest.fixture(scope="module")
def split_step() -> tuple:
    """The reference train step (split), computed once for every implementation's comparison."""
    return train_step_result("split", *STEP_INPUT)


@pytest.mark.parametrize("impl", IMPLS)
def test_whole_mixnet_s_train_step_is_the_same_with_each_impl(impl, split_step):
    loss_split, initial, params_split = split_step
    loss_other, initial_other, params_other = train_step_result(impl, *STEP_INPUT)
    assert all(np.array_equal(initial[name], initial_other[name]) for name in initial)
    assert abs(loss_split - loss_other) <= RTOL * abs(loss_split)
    assert params_split.keys() == params_other.keys()
    updated_kernels = 0
    for name, value in params_split.items():
        # values relative to the tensor's scale, floored at 1e-2 (BN betas start at 0 and move by ~lr)
        scale = max(float(np.abs(value).max()), 1e-2)
        assert float(np.abs(value - params_other[name]).max()) <= RTOL * scale, name
        if "mixed_depthwise_conv" in name:
            update = value - initial[name]
            assert rel_err(update, params_other[name] - initial[name]) <= RTOL, name
            updated_kernels += bool(np.abs(update).max() > 1e-3 * np.abs(initial[name]).max())
    assert updated_kernels == 43  # every group's kernel of MixNet-S's 16 MixConv layers was updated


def load_benchmark():
    """benchmarks/throughput.py as a module (it imports MindSpore only in its workers)."""
    spec = importlib.util.spec_from_file_location("throughput_bench", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_shapes_plan_and_table():
    bench = load_benchmark()
    assert bench.parse_shape("224x16") == (224, 16)
    for bad in ("224", "0x4", "ax3"):
        with pytest.raises(Exception, match=bad):
            bench.parse_shape(bad)
    args = bench.parse_args(["--impls", "split", "fused", "--modes", "eval", "train", "--shapes", "32x64"])
    runs = bench.plan(args)
    assert runs[0] == ("torch", "mixnet_s", "torch", "", "", "eval", (32, 64))
    assert ("ms", "mixnet_s", "fused", "auto", "mindspore", "train", (32, 64)) in runs and len(runs) == 11
    assert runs[1] == ("ort", "mixnet_s", "ort", "", "", "eval", (32, 64))  # ONNX Runtime: eval only
    row = {"framework": "mindspore", "model": "mixnet_s", "impl": "auto", "resolved": "split", "isa": "auto",
           "isa_env": "", "mode": "eval", "size": 32, "batch": 64, "compile_s": 3.0, "img_s": 50.0,
           "peak_rss_gib": 1.5, "nodes": 10, "compute_nodes": 6, "mixconv_nodes": 4}
    peer = dict(row, framework="torch", impl="torch", resolved="torch", img_s=100.0, peak_rss_gib=1.0, nodes=-1)
    ort = dict(peer, framework="ort", impl="ort", resolved="ort", img_s=40.0)
    table = bench.markdown(bench.median_rows([[peer, ort, row], [dict(peer), dict(ort), dict(row, img_s=70.0)]]))
    assert "| auto (split) |" in table and "| 0.60x (0.50-0.70) |" in table and "| 1.50x |" in table
    assert "| 1.50x (1.25-1.75) |" in table  # vs ONNX Runtime
    assert "| 10 (6) | 4 |" in table
    paired = dict(row, impl="inference", resolved="inference form", order="mindspore", ort_img_s=40.0, pair_ratio=1.25,
                  pair_ratio_q1=1.2, pair_ratio_q3=1.3, times=[0.1] * 3, load=1.0, load_end=1.1)
    plain = bench.paired_markdown([paired])
    assert "| 1.25x (1.20-1.30) | 3 |" in plain and "int8" not in plain
    with_int8 = bench.paired_markdown([dict(paired, int8_img_s=60.0, int8_ratio=0.83, int8_ratio_q1=0.8,
                                            int8_ratio_q3=0.9)])
    assert "MindSpore / ORT int8" in with_int8 and "| 60.0 | 0.83x (0.80-0.90) | 3 |" in with_int8
    assert bench.parse_args(["--paired", "--int8"]).int8 and not bench.parse_args(["--paired"]).int8
    with pytest.raises(SystemExit):
        bench.parse_args(["--steps", "0"])
