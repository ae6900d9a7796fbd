"""Precise BN: the moving statistics become the mean of the batch statistics of a few training batches."""
import numpy as np
import pytest

import mindspore as ms
from mindspore import Tensor, nn

from mindcv.engine.precise_bn import AUTO_BATCHES, AUTO_MAX_STEPS, precise_bn_batches, recompute_batchnorm
from mindcv.models.layers import native
from mindcv.models.layers.batchnorm import BatchNorm2d

ms.set_context(mode=ms.PYNATIVE_MODE)


def make_net(fast: bool) -> nn.Cell:
    ms.set_seed(3)
    norm = BatchNorm2d if fast else nn.BatchNorm2d
    return nn.SequentialCell([nn.Conv2d(3, 4, 3, has_bias=True), norm(4, momentum=0.9), nn.ReLU(),
                              nn.Conv2d(4, 5, 1), norm(5, momentum=0.9)])


def batches(n: int):
    rng = np.random.default_rng(0)
    return [(Tensor((rng.normal(size=(6, 3, 5, 5)) * (1 + i) + i).astype(np.float32)), Tensor(np.zeros(6, np.int32)))
            for i in range(n)]


@pytest.mark.parametrize("fast", [False, pytest.param(True, marks=pytest.mark.skipif(
    not native.use_native(), reason="no native operators"))])
def test_moving_statistics_become_the_mean_of_the_batch_statistics(fast):
    net = make_net(fast)
    data = batches(5)
    weights = [p.asnumpy().copy() for p in net.trainable_params()]
    assert recompute_batchnorm(net, iter(data), num_batches=3) == 3  # the first 3 of 5 batches
    first, second = net[1], net[4]
    means, variances = [], []
    for image, _ in data[:3]:  # each layer's input, from the first conv's (unchanged) weights
        a = net[0](image).asnumpy()
        means.append(a.mean(axis=(0, 2, 3)))
        variances.append(a.var(axis=(0, 2, 3), ddof=1))  # the moving variance averages the unbiased variance
    np.testing.assert_allclose(first.moving_mean.asnumpy(), np.mean(means, 0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(first.moving_variance.asnumpy(), np.mean(variances, 0), rtol=1e-4, atol=1e-5)
    assert np.all(second.moving_variance.asnumpy() != 1.0)  # every layer, not just the first
    for before, p in zip(weights, net.trainable_params()):
        np.testing.assert_array_equal(before, p.asnumpy())  # weights untouched


def test_nothing_changes_without_batches():
    net = make_net(False)
    assert recompute_batchnorm(net, iter([]), num_batches=4) == 0
    assert recompute_batchnorm(net, iter(batches(1)), num_batches=0) == 0
    np.testing.assert_array_equal(net[1].moving_variance.asnumpy(), np.ones(4, np.float32))


def test_auto_uses_a_few_batches_on_short_epochs_only():
    assert precise_bn_batches(None, 22) == AUTO_BATCHES
    assert precise_bn_batches(None, 4) == 4
    assert precise_bn_batches(None, AUTO_MAX_STEPS + 1) == 0  # ImageNet-size epochs: MindCV's behaviour
    assert precise_bn_batches(0, 22) == 0 and precise_bn_batches(50, 22) == 22
