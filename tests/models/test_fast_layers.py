"""The CPU-speed forms of MixNet's other layers equal their plain forms: Swish's written-out backward,
global average pooling as a GEMM, the grouped 1x1 conv as one ``group=g`` convolution, squeeze-excite's
native gate."""
import numpy as np
import pytest

import mindspore as ms
from mindspore import nn, ops

from mindcv.models import create_model
from mindcv.models.layers import GlobalAvgPooling, GroupedConv2d, Swish, native
from mindcv.models.layers.squeeze_excite import SqueezeExcite

ms.set_context(mode=ms.PYNATIVE_MODE)

NATIVE_REASON = native.unavailable_reason()
needs_native = pytest.mark.skipif(bool(NATIVE_REASON), reason=f"native operators unavailable: {NATIVE_REASON}")


def rel_err(ref: np.ndarray, other: np.ndarray) -> float:
    return float(np.abs(ref - other).max() / max(np.abs(ref).max(), 1e-12))


class Probe(nn.Cell):
    """<fn(x), dy>: its gradient with respect to x is the backward of fn applied to dy."""

    def __init__(self, fn, dy: ms.Tensor) -> None:
        super().__init__()
        self.fn = fn
        self.dy = dy

    def construct(self, x):
        return (self.fn(x) * self.dy).sum()


class PlainSwish(nn.Cell):
    def construct(self, x):
        return x * ops.sigmoid(x)


def value_and_input_grad(fn, x: ms.Tensor, dy: ms.Tensor) -> tuple:
    out = fn(x)
    grad = ms.grad(Probe(fn, dy))(x)
    return out.asnumpy(), grad.asnumpy()


@pytest.mark.parametrize("mode", [ms.PYNATIVE_MODE, ms.GRAPH_MODE])
def test_swish_backward_equals_autodiff(mode):
    ms.set_context(mode=mode)
    try:
        rng = np.random.default_rng(0)
        x = ms.Tensor((rng.normal(size=(2, 3, 5, 7)) * 4).astype(np.float32))  # both tails of the sigmoid
        dy = ms.Tensor(rng.normal(size=(2, 3, 5, 7)).astype(np.float32))
        ours = value_and_input_grad(Swish(), x, dy)
        plain = value_and_input_grad(PlainSwish(), x, dy)
        for a, b in zip(plain, ours):
            assert rel_err(a, b) <= 1e-6
        s = 1 / (1 + np.exp(-x.asnumpy().astype(np.float64)))  # and the closed form, in float64
        expected = dy.asnumpy() * (s + x.asnumpy() * s * (1 - s))
        assert rel_err(expected, ours[1]) <= 1e-5
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)


@pytest.mark.parametrize("keep_dims", [True, False])
def test_global_pooling_forms_agree_on_values_and_gradients(keep_dims):
    rng = np.random.default_rng(1)
    x = ms.Tensor(rng.normal(loc=3.0, size=(3, 5, 9, 7)).astype(np.float32))
    shape = (3, 5, 1, 1) if keep_dims else (3, 5)
    dy = ms.Tensor(rng.normal(size=shape).astype(np.float32))
    mean = value_and_input_grad(GlobalAvgPooling(keep_dims, impl="mean"), x, dy)
    gemm = value_and_input_grad(GlobalAvgPooling(keep_dims, impl="matmul"), x, dy)
    assert mean[0].shape == gemm[0].shape == shape
    np.testing.assert_allclose(mean[0], x.asnumpy().mean(axis=(2, 3)).reshape(shape), rtol=1e-5)
    for a, b in zip(mean, gemm):
        assert rel_err(a, b) <= 1e-5


def test_global_pooling_auto_is_the_gemm_on_cpu_and_rejects_unknown_forms():
    assert GlobalAvgPooling().impl == "matmul"  # the tests run on CPU
    with pytest.raises(ValueError, match="impl='sum'"):
        GlobalAvgPooling(impl="sum")


@pytest.mark.parametrize("in_chs,out_chs,groups,expected", [(24, 48, 2, "grouped"), (12, 20, 3, "split"),
                                                           (16, 32, 1, "split")])
def test_grouped_conv_is_one_conv_when_the_groups_are_equal(in_chs, out_chs, groups, expected):
    ref = GroupedConv2d(in_chs, out_chs, [1] * groups, impl="split")
    other = GroupedConv2d(in_chs, out_chs, [1] * groups)
    assert other.impl == expected and ref.impl == "split"
    assert [p.name for p in ref.get_parameters()] == [p.name for p in other.get_parameters()]
    for p_ref, p_other in zip(ref.get_parameters(), other.get_parameters()):
        p_other.set_data(p_ref.data.copy())
    rng = np.random.default_rng(2)
    x = ms.Tensor(rng.normal(size=(2, in_chs, 6, 5)).astype(np.float32))
    dy = ms.Tensor(rng.normal(size=(2, out_chs, 6, 5)).astype(np.float32))

    def results(layer):
        out = layer(x)
        grads = ms.grad(lambda inp: (layer(inp) * dy).sum(), grad_position=0, weights=layer.trainable_params())(x)
        return [out.asnumpy(), grads[0].asnumpy()] + [g.asnumpy() for g in grads[1]]

    for a, b in zip(results(ref), results(other)):
        assert rel_err(a, b) <= 1e-5


def test_grouped_conv_rejects_unknown_forms():
    with pytest.raises(ValueError, match="impl='fused'"):
        GroupedConv2d(8, 8, [1, 1], impl="fused")


def test_mixnet_uses_the_plain_forms_only_with_split():
    """mixconv_impl='split' is MindCV's graph throughout; the default uses the grouped convs and the GEMM pooling."""
    split = create_model("mixnet_s", num_classes=10, mixconv_impl="split")
    default = create_model("mixnet_s", num_classes=10)

    def grouped_impls(net):
        return {c.impl for _, c in net.cells_and_names() if isinstance(c, GroupedConv2d) and c.num_groups > 1}

    assert grouped_impls(split) == {"split"} and grouped_impls(default) == {"grouped"}
    pools = [{c.impl for _, c in net.cells_and_names() if isinstance(c, GlobalAvgPooling)} for net in (split, default)]
    assert pools == [{"mean"}, {"matmul"}]
    x = ms.Tensor(np.random.default_rng(3).normal(size=(2, 3, 32, 32)).astype(np.float32))
    for p_split, p_default in zip(split.get_parameters(), default.get_parameters()):
        p_default.set_data(p_split.data.copy())
    split.set_train(False)
    default.set_train(False)
    assert rel_err(split(x).asnumpy(), default(x).asnumpy()) <= 1e-4


@needs_native
@pytest.mark.parametrize("mode", [ms.PYNATIVE_MODE, ms.GRAPH_MODE])
def test_squeeze_excite_native_gate_equals_mul(mode):
    """The native gate (x * g, g of shape (N, C, 1, 1)) gives Mul's values and gradients (x and weights)."""
    ms.set_context(mode=mode)
    try:
        plain, fast = SqueezeExcite(12, 4, fast=False), SqueezeExcite(12, 4)
        assert fast.native and not plain.native
        assert [p.name for p in plain.get_parameters()] == [p.name for p in fast.get_parameters()]
        for p_plain, p_fast in zip(plain.get_parameters(), fast.get_parameters()):
            p_fast.set_data(p_plain.data.copy())
        rng = np.random.default_rng(4)
        x = ms.Tensor(rng.normal(size=(3, 12, 5, 7)).astype(np.float32))
        dy = ms.Tensor(rng.normal(size=(3, 12, 5, 7)).astype(np.float32))

        def results(layer):
            grads = ms.grad(Probe(layer, dy), grad_position=0, weights=layer.trainable_params())(x)
            return [layer(x).asnumpy(), grads[0].asnumpy()] + [g.asnumpy() for g in grads[1]]

        for a, b in zip(results(plain), results(fast)):
            assert rel_err(a, b) <= 1e-5
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)


@needs_native
def test_mixnet_squeeze_excite_gate_is_native_except_in_split():
    def natives(net):
        return {c.native for _, c in net.cells_and_names() if isinstance(c, SqueezeExcite)}

    assert natives(create_model("mixnet_s", num_classes=10)) == {True}
    assert natives(create_model("mixnet_s", num_classes=10, mixconv_impl="split")) == {False}


@needs_native
@pytest.mark.parametrize("shape", [(5, 7, 1, 1), (3, 6, 2, 3), (2, 3, 65, 66)])  # tiny planes, a plane > 4096
def test_native_batchnorm_equals_nn_batchnorm(shape):
    """Training: output, gradients (x, gamma, beta) and the new moving averages; then inference with them."""
    from mindcv.models.layers.batchnorm import BatchNorm2d

    plain, fast = nn.BatchNorm2d(shape[1], momentum=0.9, eps=1e-3), BatchNorm2d(shape[1], momentum=0.9, eps=1e-3)
    assert fast.native
    rng = np.random.default_rng(sum(shape))
    for layer in (plain, fast):
        layer.gamma.set_data(ms.Tensor(rng.uniform(0.5, 1.5, shape[1]).astype(np.float32)))
        layer.beta.set_data(ms.Tensor(rng.normal(size=shape[1]).astype(np.float32)))
        rng = np.random.default_rng(sum(shape))  # the same values for both
    x = ms.Tensor((rng.normal(size=shape) * 3 + 1).astype(np.float32))
    dy = ms.Tensor(rng.normal(size=shape).astype(np.float32))

    def results(layer):
        layer.set_train(True)
        out = layer(x).asnumpy()
        moving = [layer.moving_mean.asnumpy().copy(), layer.moving_variance.asnumpy().copy()]
        grads = ms.grad(Probe(layer, dy), grad_position=0, weights=[layer.gamma, layer.beta])(x)
        layer.set_train(False)
        return [out] + moving + [grads[0].asnumpy()] + [g.asnumpy() for g in grads[1]] + [layer(x).asnumpy()]

    names = ["output", "moving mean", "moving variance", "dx", "d gamma", "d beta", "inference output"]
    for name, a, b in zip(names, results(plain), results(fast)):
        assert rel_err(a, b) <= 1e-4, (name, rel_err(a, b))
