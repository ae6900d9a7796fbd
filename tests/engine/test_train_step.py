"""TrainStep against MindSpore's own TrainOneStepCell and closed-form expectations."""
import numpy as np
import pytest

import mindspore as ms
from mindspore import Tensor, nn

from mindcv.engine.train_step import TrainStep

ms.set_context(mode=ms.GRAPH_MODE)


def make_net(seed: int = 0) -> nn.Cell:
    ms.set_seed(seed)
    return nn.SequentialCell([nn.Dense(6, 5), nn.ReLU(), nn.Dense(5, 3)])


def batch(seed: int, n: int = 8):
    rng = np.random.default_rng(seed)
    return (Tensor(rng.normal(size=(n, 6)).astype(np.float32)),
            Tensor(rng.integers(0, 3, n).astype(np.int32)))


def weights(net: nn.Cell) -> list:
    return [p.asnumpy().copy() for p in net.trainable_params()]


LOSS = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")


def test_plain_step_equals_mindspore_train_one_step():
    a, b = make_net(), make_net()
    ref = nn.TrainOneStepCell(nn.WithLossCell(a, LOSS), nn.Momentum(a.trainable_params(), 0.1, 0.9))
    ours = TrainStep(b, LOSS, nn.Momentum(b.trainable_params(), 0.1, 0.9))
    for s in range(3):
        x, y = batch(s)
        ref_loss = ref(x, y)
        loss, overflow, scale, _ = ours(x, y)
        np.testing.assert_allclose(loss.asnumpy(), ref_loss.asnumpy(), rtol=1e-6)
        assert not overflow.asnumpy() and float(scale.asnumpy()) == 1.0
    for wa, wb in zip(weights(a), weights(b)):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)


def test_fixed_loss_scale_gives_the_same_update():
    a, b = make_net(), make_net()
    step_a = TrainStep(a, LOSS, nn.SGD(a.trainable_params(), 0.1))
    step_b = TrainStep(b, LOSS, nn.SGD(b.trainable_params(), 0.1), loss_scale=256.0)
    x, y = batch(0)
    step_a(x, y)
    step_b(x, y)
    for wa, wb in zip(weights(a), weights(b)):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)


def test_dynamic_loss_scale_skips_overflow_and_lowers_the_scale():
    net = make_net()
    before = weights(net)
    step = TrainStep(net, LOSS, nn.SGD(net.trainable_params(), 0.1), loss_scale=3e38,
                     loss_scale_type="dynamic", scale_factor=2.0, scale_window=1000)
    x, y = batch(0)
    loss, overflow, scale, _ = step(x * 1e4, y)  # gradients * 3e38 overflow float32
    assert bool(overflow.asnumpy())
    assert float(step.scale_sense.asnumpy()) == pytest.approx(1.5e38, rel=1e-6)
    for w0, w1 in zip(before, weights(net)):
        np.testing.assert_array_equal(w0, w1)


def test_gradient_accumulation_equals_one_big_batch():
    a, b = make_net(), make_net()
    big = TrainStep(a, LOSS, nn.SGD(a.trainable_params(), 0.5))
    acc = TrainStep(b, LOSS, nn.SGD(b.trainable_params(), 0.5), gradient_accumulation_steps=2)
    x, y = batch(1, 16)
    big(x, y)
    acc(x[:8], y[:8])
    for w0, w1 in zip(weights(make_net()), weights(b)):
        np.testing.assert_array_equal(w0, w1)  # no update after the first micro-batch
    acc(x[8:], y[8:])
    for wa, wb in zip(weights(a), weights(b)):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)


def test_ema_follows_the_warmed_up_decay():
    net = make_net()
    before = weights(net)
    step = TrainStep(net, LOSS, nn.SGD(net.trainable_params(), 0.1), ema=True, ema_decay=0.9999)
    names = {p.name for p in step.get_parameters()}
    assert {"ema." + p.name for p in net.get_parameters()} <= names and "updates" in names
    step(*batch(0))
    decay = 0.9999 * (1 - np.exp(-1 / 2000))
    ema = {p.name: p.asnumpy() for p in step.ema_weights}
    for p, w0 in zip(net.trainable_params(), before):
        np.testing.assert_allclose(ema["ema." + p.name], decay * w0 + (1 - decay) * p.asnumpy(), rtol=1e-5,
                                   atol=1e-7)


def test_gradient_clipping_bounds_the_update():
    net = make_net()
    before = weights(net)
    step = TrainStep(net, LOSS, nn.SGD(net.trainable_params(), 1.0), clip_grad=True, clip_value=1e-3)
    step(*batch(0))
    change = np.sqrt(sum(((w1 - w0) ** 2).sum() for w0, w1 in zip(before, weights(net))))
    assert change == pytest.approx(1e-3, rel=1e-3)


def test_bad_options_are_named():
    net = make_net()
    with pytest.raises(ValueError, match="loss_scale_type"):
        TrainStep(net, LOSS, nn.SGD(net.trainable_params(), 0.1), loss_scale_type="auto")
    with pytest.raises(ValueError, match="gradient_accumulation_steps"):
        TrainStep(net, LOSS, nn.SGD(net.trainable_params(), 0.1), gradient_accumulation_steps=0)


@pytest.mark.parametrize("opt", ["lion", "nadam", "adan"])
def test_hand_written_optimizers_compile_with_loss_scale_and_accumulation(opt):
    """In a graph-mode step, with a fixed loss scale and 2 micro-batches per update, our optimizers make the
    same two updates as on the two whole batches unscaled."""
    from mindcv.optim import create_optimizer

    a, b = make_net(), make_net()
    whole = TrainStep(a, LOSS, create_optimizer(a, opt=opt, lr=[0.01, 0.02], weight_decay=0.1))
    micro = TrainStep(b, LOSS, create_optimizer(b, opt=opt, lr=[0.01, 0.02], weight_decay=0.1), loss_scale=128.0,
                      gradient_accumulation_steps=2)
    for s in (1, 2):
        x, y = batch(s, 16)
        whole(x, y)
        micro(x[:8], y[:8])
        micro(x[8:], y[8:])
    for wa, wb, w0 in zip(weights(a), weights(b), weights(make_net())):
        assert not np.allclose(wa, w0)
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)


def test_step_counts_the_correct_top1_predictions_of_its_batch():
    """The 4th output: how many of the batch's predictions (before the update) equal the labels, also for soft
    targets (their arg-max); it carries no gradient, so the update is the plain one."""
    a, b = make_net(0), make_net(0)
    x, y = batch(5, n=16)
    expected = int((a(x).asnumpy().argmax(1) == y.asnumpy()).sum())
    step = TrainStep(a, LOSS, nn.SGD(a.trainable_params(), 0.1))
    assert int(step(x, y)[3].asnumpy()) == expected
    reference = nn.TrainOneStepCell(nn.WithLossCell(b, LOSS), nn.SGD(b.trainable_params(), 0.1))
    reference(x, y)
    for wa, wb in zip(weights(a), weights(b)):
        np.testing.assert_allclose(wa, wb, rtol=1e-6, atol=1e-7)
    soft_loss = nn.SoftmaxCrossEntropyWithLogits(sparse=False, reduction="mean")
    soft = np.eye(3, dtype=np.float32)[y.asnumpy()] * 0.8 + 0.2 / 3
    expected = int((a(x).asnumpy().argmax(1) == y.asnumpy()).sum())
    soft_step = TrainStep(a, soft_loss, nn.SGD(a.trainable_params(), 0.0))
    assert int(soft_step(x, Tensor(soft))[3].asnumpy()) == expected
