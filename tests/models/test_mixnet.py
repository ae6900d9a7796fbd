"""MixNet-S/M/L: structure, counts, multiply-adds, graph and PyNative forward, a training step."""
import numpy as np
import pytest

import mindspore as ms
from mindspore import nn

from mindcv.models import create_model, is_model, list_models, mixnet
from mindcv.models.summary import count_macs, count_params

# MindCV's (and timm's) trainable / all-parameter counts; multiply-adds of conv + SE + FC at 224x224
# as a hook-based counter gives for timm's identical graphs.
EXPECTED = {
    "mixnet_s": (4_134_606, 4_166_798, 239.2e6),
    "mixnet_m": (5_014_382, 5_056_094, 339.2e6),
    "mixnet_l": (7_329_252, 7_383_524, 555.3e6),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parameter_counts(name):
    net = create_model(name)
    trainable, total, _ = EXPECTED[name]
    assert count_params(net) == trainable
    assert count_params(net, trainable_only=False) == total


def test_multiply_adds_at_224_within_one_percent():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    for name in ("mixnet_s", "mixnet_l"):
        macs = count_macs(create_model(name), (224, 224))["total"]
        assert abs(macs - EXPECTED[name][2]) / EXPECTED[name][2] < 0.01, (name, macs)


def test_multiply_adds_do_not_depend_on_the_mixconv_impl():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    counts = {impl: count_macs(create_model("mixnet_s", num_classes=10, mixconv_impl=impl), (64, 64))["conv"]
              for impl in ("split", "fused", "native")}
    assert len(set(counts.values())) == 1, counts


def test_mixnet_l_is_mixnet_m_at_width_1_3():
    large = create_model("mixnet_l")
    medium_wide = create_model("mixnet_m", width_multiplier=1.3)
    assert [(p.name, p.shape) for p in large.get_parameters()] == \
           [(p.name, p.shape) for p in medium_wide.get_parameters()]


def test_mindcv_depth_multiplier_alias_scales_width():
    net = create_model("mixnet_s", depth_multiplier=1.5, num_classes=10)
    assert net.stem_conv[0].weight.shape[0] == mixnet.round_channels(16 * 1.5)


def test_head_and_stem_options():
    net = create_model("mixnet_s", num_classes=7, in_channels=1)
    assert net.classifier.weight.shape == (7, 1536)
    assert net.stem_conv[0].weight.shape == (16, 1, 3, 3)
    with pytest.raises(ValueError, match="num_classes"):
        create_model("mixnet_s", num_classes=0)


def test_registry_lists_and_rejects_unknown_names():
    assert {"mixnet_s", "mixnet_m", "mixnet_l"} <= set(list_models("mixnet*"))
    assert list_models("mixnet_[sm]") == ["mixnet_m", "mixnet_s"]
    assert "mixnet_s" not in list_models("mixnet*", exclude_filters="*_s")
    assert is_model("mixnet_s") and not is_model("mixnet_xs")
    with pytest.raises(ValueError) as err:
        create_model("mixnet_sm")
    assert "mixnet_s" in str(err.value) and "mixnet_sm" in str(err.value)


def test_checkpoint_and_pretrained_are_exclusive():
    with pytest.raises(ValueError, match="checkpoint_path"):
        create_model("mixnet_s", pretrained=True, checkpoint_path="x.ckpt")


@pytest.mark.parametrize("mode", [ms.PYNATIVE_MODE, ms.GRAPH_MODE])
def test_forward_224_gives_1000_logits(mode):
    ms.set_context(mode=mode)
    ms.set_seed(0)
    net = create_model("mixnet_s")
    net.set_train(False)
    x = ms.Tensor(np.random.default_rng(0).normal(size=(1, 3, 224, 224)).astype(np.float32))
    out = net(x)
    assert out.shape == (1, 1000)
    assert np.isfinite(out.asnumpy()).all()
    features = net.forward_features(x) if mode == ms.PYNATIVE_MODE else None
    if features is not None:
        assert features.shape == (1, 1536, 7, 7)
    ms.set_context(mode=ms.PYNATIVE_MODE)


def test_train_step_lowers_the_loss():
    # PyNative: six steps cost less than one graph compile (graph-mode training runs in tests/e2e and test_cpu_convs)
    ms.set_seed(0)
    net = create_model("mixnet_s", num_classes=10, drop_rate=0.0, drop_path_rate=0.1)
    loss_fn = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
    opt = nn.Adam(net.trainable_params(), learning_rate=1e-3)
    step = nn.TrainOneStepCell(nn.WithLossCell(net, loss_fn), opt)
    step.set_train(True)
    rng = np.random.default_rng(0)
    x = ms.Tensor(rng.normal(size=(8, 3, 32, 32)).astype(np.float32))
    y = ms.Tensor(rng.integers(0, 10, 8).astype(np.int32))
    losses = [float(step(x, y).asnumpy()) for _ in range(6)]
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.5 * losses[0], losses
