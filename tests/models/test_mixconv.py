"""MixConv layer: channel partitions, argument checks, and outputs against a NumPy reference."""
import numpy as np
import pytest

import mindspore as ms
from mindspore import nn

from mindcv.models.layers.mixconv import GroupedConv2d, MixConv2d, default_kernel_sizes, split_channels

ms.set_context(mode=ms.PYNATIVE_MODE)


def ref_depthwise(x: np.ndarray, w: np.ndarray, stride: int, dilation: int) -> np.ndarray:
    """Depthwise conv with symmetric padding dilation*(k-1)/2, straight from the definition."""
    n, c, h, wd = x.shape
    k = w.shape[-1]
    pad = dilation * (k - 1) // 2
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = -(-h // stride), -(-wd // stride)
    out = np.zeros((n, c, oh, ow), np.float64)
    for i in range(k):
        for j in range(k):
            patch = xp[:, :, i * dilation: i * dilation + (oh - 1) * stride + 1: stride,
                       j * dilation: j * dilation + (ow - 1) * stride + 1: stride]
            out += patch * w[None, :, 0, i, j, None, None]
    return out


def weights_of(layer: MixConv2d) -> list:
    convs = [layer.mixed_depthwise_conv] if layer.num_groups == 1 else list(layer.mixed_depthwise_conv)
    return [c.weight.asnumpy() for c in convs]


@pytest.mark.parametrize("channels,groups,partition,expected", [
    (32, 4, "exponential", [16, 8, 4, 4]),
    (32, 3, "equal", [12, 10, 10]),
    (10, 1, "equal", [10]),
    (9, 2, "exponential", [4, 5]),
])
def test_split_channels(channels, groups, partition, expected):
    sizes = split_channels(channels, groups, partition)
    assert sizes == expected
    assert sum(sizes) == channels


@pytest.mark.parametrize("kwargs,words", [
    (dict(channels=8, kernel_size=[3, 4]), ["kernel_size", "4"]),
    (dict(channels=2, kernel_size=[3, 5, 7]), ["num_groups=3", "channels=2"]),
    (dict(channels=4, kernel_size=[3, 5, 7, 9], partition="exponential"), ["exponential", "empty"]),
    (dict(channels=8, kernel_size=[3, 5], partition="golden"), ["partition", "golden"]),
    (dict(channels=8, kernel_size=[3, 5], dilation=[1, 2, 3]), ["dilation", "2 groups"]),
    (dict(channels=8, kernel_size=3, stride=3), ["stride=3"]),
])
def test_bad_arguments_name_the_argument(kwargs, words):
    with pytest.raises(ValueError) as err:
        MixConv2d(**kwargs)
    for word in words:
        assert word in str(err.value)


def test_default_kernels_are_2i_plus_1():
    assert default_kernel_sizes(4) == [3, 5, 7, 9]


def test_single_group_is_a_depthwise_conv():
    layer = MixConv2d(6, 5, stride=2)
    dw = nn.Conv2d(6, 6, 5, stride=2, pad_mode="pad", padding=2, group=6, has_bias=False)
    dw.weight.set_data(layer.mixed_depthwise_conv.weight.data)
    x = ms.Tensor(np.random.default_rng(0).normal(size=(2, 6, 9, 9)).astype(np.float32))
    np.testing.assert_allclose(layer(x).asnumpy(), dw(x).asnumpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kernels,stride,dilation,partition,size", [
    ([3, 5, 7], 1, 1, "equal", 9),
    ([3, 5, 7, 9], 2, 1, "exponential", 11),
    ([3, 5], 2, [1, 2], "equal", 8),
    ([3, 5, 7, 9, 11], 2, 1, "equal", 7),
])
def test_mixconv_matches_reference(kernels, stride, dilation, partition, size):
    channels = 16
    layer = MixConv2d(channels, kernels, stride=stride, dilation=dilation, partition=partition)
    x = np.random.default_rng(1).normal(size=(2, channels, size, size + 1)).astype(np.float32)
    out = layer(ms.Tensor(x)).asnumpy()
    assert out.shape == (2, channels, -(-size // stride), -(-(size + 1) // stride))
    dils = dilation if isinstance(dilation, list) else [dilation] * len(kernels)
    expected, start = [], 0
    for w, c, d in zip(weights_of(layer), split_channels(channels, len(kernels), partition), dils):
        expected.append(ref_depthwise(x[:, start:start + c], w.astype(np.float64), stride, d))
        start += c
    np.testing.assert_allclose(out, np.concatenate(expected, axis=1), rtol=1e-4, atol=1e-5)


def test_dilated_variant_uses_3x3_kernels_with_the_same_receptive_field():
    layer = MixConv2d(12, [3, 5, 7], dilated=True)
    assert layer.kernel_sizes == [3, 3, 3]
    assert layer.dilations == [1, 2, 3]
    assert [w.shape[-1] for w in weights_of(layer)] == [3, 3, 3]
    x = np.random.default_rng(2).normal(size=(1, 12, 10, 10)).astype(np.float32)
    out = layer(ms.Tensor(x)).asnumpy()
    expected = np.concatenate([ref_depthwise(x[:, 4 * g:4 * g + 4], w, 1, d)
                               for g, (w, d) in enumerate(zip(weights_of(layer), [1, 2, 3]))], axis=1)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_grouped_pointwise_conv_splits_in_and_out_channels():
    layer = GroupedConv2d(10, 7, [1, 1])
    assert layer.split_in_channels == [5, 5] and layer.split_out_channels == [4, 3]
    x = np.random.default_rng(3).normal(size=(2, 10, 4, 4)).astype(np.float32)
    out = layer(ms.Tensor(x)).asnumpy()
    w0, w1 = (c.weight.asnumpy()[:, :, 0, 0] for c in layer.grouped_conv)
    expected = np.concatenate([np.einsum("oc,nchw->nohw", w0, x[:, :5]),
                               np.einsum("oc,nchw->nohw", w1, x[:, 5:])], axis=1)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_parameter_names_follow_mindcv():
    single = {p.name for p in MixConv2d(8, [3]).get_parameters()}
    multi = {p.name for p in MixConv2d(8, [3, 5]).get_parameters()}
    assert single == {"mixed_depthwise_conv.weight"}
    assert multi == {"mixed_depthwise_conv.0.weight", "mixed_depthwise_conv.1.weight"}


def test_same_padding_output_size():
    layer = MixConv2d(8, [3, 5], stride=2, padding="same")
    out = layer(ms.Tensor(np.ones((1, 8, 7, 8), np.float32)))
    assert out.shape == (1, 8, 4, 4)
