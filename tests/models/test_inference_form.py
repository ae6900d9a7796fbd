"""The CPU inference form (models/inference.py) computes the model's eval-mode function: folded BatchNorm,
channels-last native operators with fused bias, activation and residual."""
import numpy as np
import pytest

import mindspore as ms
from mindspore import nn

from mindcv.models import create_model
from mindcv.models.inference import Depthwise, Pointwise, inference_blocker, to_inference
from mindcv.models.layers import GroupedConv2d, Swish, native
from mindcv.models.layers.mixconv import MixConv2d

ms.set_context(mode=ms.PYNATIVE_MODE)

NATIVE_REASON = native.unavailable_reason()
pytestmark = pytest.mark.skipif(bool(NATIVE_REASON), reason=f"native operators unavailable: {NATIVE_REASON}")


def rel_err(ref: np.ndarray, other: np.ndarray) -> float:
    return float(np.abs(ref - other).max() / max(np.abs(ref).max(), 1e-12))


def randomise_batchnorm(net: nn.Cell, seed: int = 0) -> None:
    """BN statistics and affine parameters away from identity, so that folding them is actually tested."""
    rng = np.random.default_rng(seed)
    for p in net.get_parameters():
        if p.name.endswith(("moving_mean", "beta")):
            p.set_data(ms.Tensor(rng.normal(0, 0.2, p.shape).astype(np.float32)))
        elif p.name.endswith(("moving_variance", "gamma")):
            p.set_data(ms.Tensor(rng.uniform(0.5, 1.5, p.shape).astype(np.float32)))


@pytest.mark.parametrize("name,size,batch", [
    ("mixnet_s", 32, 3),       # MindCV's structure: ReLU SE, symmetric padding, residual and grouped 1x1 convs
    ("tf_mixnet_s", 33, 1),    # TF SAME padding (asymmetric when strided), swish SE, an odd input size
    ("mixnet_m", 20, 2),       # 9x9 kernels on 3x3 / 2x2 / 1x1 maps: windows larger than the map
    ("mobilenet_v2_mixconv3579", 32, 2),  # the paper's MixConv in MobileNet-V2: ReLU6, 1x1 head, no SE
    ("mobilenet_v1_mixconv357", 35, 1),   # MobileNet-V1: no residual, no head convolution
])
def test_logits_equal_the_models(name, size, batch):
    net = create_model(name, num_classes=7)
    randomise_batchnorm(net)
    net.set_train(False)
    x = ms.Tensor(np.random.default_rng(1).normal(size=(batch, 3, size, size)).astype(np.float32))
    ref = net(x).asnumpy()
    out = to_inference(net)(x).asnumpy()
    assert out.shape == ref.shape == (batch, 7)
    assert rel_err(ref, out) < 2e-5


def test_it_holds_the_weights_it_was_built_with():
    net = create_model("mixnet_s", num_classes=3)
    net.set_train(False)
    x = ms.Tensor(np.random.default_rng(2).normal(size=(2, 3, 32, 32)).astype(np.float32))
    inference = to_inference(net)
    before = inference(x).asnumpy()
    net.classifier.bias.set_data(net.classifier.bias + 1.0)  # e.g. a checkpoint loaded afterwards
    assert np.array_equal(inference(x).asnumpy(), before)
    assert rel_err(net(x).asnumpy(), to_inference(net)(x).asnumpy()) < 2e-5  # built again: the new weights


def _nhwc(x: ms.Tensor) -> ms.Tensor:
    return x.transpose(0, 2, 3, 1)


def _nchw(x: ms.Tensor) -> ms.Tensor:
    return x.transpose(0, 3, 1, 2)


@pytest.mark.parametrize("kwargs", [
    {"kernel_size": [3, 5, 7], "stride": 2, "padding": "same"},
    {"kernel_size": [3, 5, 7, 9], "dilated": True, "partition": "exponential"},  # dilations 1, 2, 3, 4
    {"kernel_size": [3, 5], "dilation": [2, 1], "stride": 2},
])
def test_mixconv_with_batchnorm_and_swish_in_one_operator(kwargs):
    channels = 37  # two whole vectors of 16 channels and a partial one; groups cross vector boundaries
    layer = MixConv2d(channels, impl="split", **kwargs)
    bn = nn.BatchNorm2d(channels)
    act = Swish(fast=False)
    plain = nn.SequentialCell([layer, bn, act])
    randomise_batchnorm(plain, seed=3)
    plain.set_train(False)
    x = ms.Tensor(np.random.default_rng(4).normal(size=(2, channels, 11, 13)).astype(np.float32))
    ref = plain(x).asnumpy()
    scale = bn.gamma.asnumpy() / np.sqrt(bn.moving_variance.asnumpy() + bn.eps)
    shift = bn.beta.asnumpy() - bn.moving_mean.asnumpy() * scale
    step = Depthwise("dw", layer, scale.astype(np.float64), shift.astype(np.float64), act=2)
    out = _nchw(step(_nhwc(x))).asnumpy()
    assert out.shape == ref.shape and rel_err(ref, out) < 2e-5


@pytest.mark.parametrize("rows", [1, 9, 130])  # a partial micro-kernel, several, more than one work item
def test_grouped_pointwise_with_unequal_groups_bias_and_residual(rows):
    conv = GroupedConv2d(13, 45, kernel_size=[1, 1], impl="split")  # groups 7 + 6 -> 23 + 22 (the remainder first)
    x = ms.Tensor(np.random.default_rng(5).normal(size=(1, 13, rows, 1)).astype(np.float32))
    res = ms.Tensor(np.random.default_rng(6).normal(size=(1, 45, rows, 1)).astype(np.float32))
    scale = np.random.default_rng(7).uniform(0.5, 1.5, 45)
    shift = np.random.default_rng(8).normal(size=45)
    ref = (conv(x).asnumpy() * scale[None, :, None, None] + shift[None, :, None, None])
    ref_relu_res = np.maximum(ref, 0) + res.asnumpy()
    weights = [c.weight.asnumpy() for c in conv.grouped_conv]
    plain = Pointwise("pw", weights, conv.split_in_channels, conv.split_out_channels, scale, shift, 0, False)
    fused = Pointwise("pw", weights, conv.split_in_channels, conv.split_out_channels, scale, shift, 1, True)
    assert rel_err(ref, _nchw(plain(_nhwc(x))).asnumpy()) < 2e-5
    assert rel_err(ref_relu_res, _nchw(fused(_nhwc(x), _nhwc(res))).asnumpy()) < 2e-5


def test_long_inputs_are_summed_in_blocks():
    # 600 inputs: three blocks of the matrix product (256 each), partial sums kept in the output between them
    w = np.random.default_rng(9).normal(size=(70, 600, 1, 1)).astype(np.float32) / 25
    x = np.random.default_rng(10).normal(size=(1, 5, 3, 600)).astype(np.float32)
    step = Pointwise("pw", [w], [600], [70], np.ones(70), np.zeros(70), 0, False)
    ref = x.reshape(-1, 600) @ w.reshape(70, 600).T
    assert rel_err(ref, step(ms.Tensor(x)).asnumpy().reshape(-1, 70)) < 2e-5


def test_models_it_cannot_run_are_named():
    assert inference_blocker(create_model("mixnet_s", num_classes=3)) is None
    assert inference_blocker(create_model("mobilenet_v2", num_classes=3)) is None
    assert "Dense is not a MixNet or MobileNet" in inference_blocker(nn.Dense(4, 2))
    model = create_model("mixnet_s", num_classes=3)
    model.layers[3].convs[2] = nn.GELU()  # an activation the kernels do not have
    assert inference_blocker(model) == "activation GELU"
    with pytest.raises(ValueError, match="no CPU inference form: activation GELU"):
        to_inference(model)
