"""load_pretrained / load_checkpoint_path on a tiny cell, served offline through MINDCV_MIRROR."""
import hashlib
import logging
import os

import numpy as np
import pytest

from mindspore import Parameter, Tensor, nn

from mindcv.models.pretrained import load_checkpoint_path, load_pretrained
from mindcv.utils import download as dl
from mindcv.utils.checkpoint import CheckpointError, save_checkpoint_atomic


class TinyNet(nn.Cell):
    """Stem conv + BN + Dense head, named like MindCV's MixNet."""

    def __init__(self, num_classes: int = 1000, in_channels: int = 3):
        super().__init__()
        self.stem_conv = nn.SequentialCell([nn.Conv2d(in_channels, 4, 3, has_bias=False), nn.BatchNorm2d(4)])
        self.classifier = nn.Dense(4, num_classes)

    def construct(self, x):
        return self.classifier(self.stem_conv(x).mean((2, 3)))


def arrays(net: nn.Cell) -> dict:
    return {p.name: p.asnumpy().copy() for p in net.get_parameters()}


def published_weights(seed: int = 0) -> dict:
    """Random weights for a 1000-class TinyNet (different from any fresh initialisation)."""
    rng = np.random.default_rng(seed)
    return {p.name: rng.standard_normal(p.shape).astype(np.float32) for p in TinyNet().get_parameters()}


@pytest.fixture
def published(tmp_path, monkeypatch):
    """A MindCV-named checkpoint in a local mirror directory; returns (default_cfg, weights)."""
    weights = published_weights()
    staging = tmp_path / "staging.ckpt"
    save_checkpoint_atomic({k: Tensor(v) for k, v in weights.items()}, staging)
    digest = hashlib.sha256(staging.read_bytes()).hexdigest()
    mirror = tmp_path / "mirror" / "tiny"
    mirror.mkdir(parents=True)
    name = f"tiny-{digest[:8]}.ckpt"
    os.replace(staging, mirror / name)
    monkeypatch.setenv(dl.MIRROR_ENV, str(tmp_path / "mirror"))
    monkeypatch.setenv(dl.HOME_ENV, str(tmp_path / "home"))
    monkeypatch.delenv(dl.OFFLINE_ENV, raising=False)
    cfg = {"url": f"{dl.DEFAULT_HOSTS[0]}/tiny/{name}", "num_classes": 1000, "first_conv": "stem_conv.0",
           "classifier": "classifier", "name": "tiny"}
    return cfg, weights


@pytest.fixture
def logs(caplog):
    pkg = logging.getLogger("mindcv")
    pkg.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="mindcv")
    yield caplog
    pkg.removeHandler(caplog.handler)


def test_load_pretrained_loads_everything_into_the_cache(published, tmp_path):
    cfg, weights = published
    net = load_pretrained(TinyNet(), cfg)
    for name, value in arrays(net).items():
        np.testing.assert_array_equal(value, weights[name])
    cached = tmp_path / "home" / "models" / os.path.basename(cfg["url"])
    assert cached.is_file()


def test_other_num_classes_drops_the_head(published, logs):
    cfg, weights = published
    net = TinyNet(num_classes=7)
    load_pretrained(net, cfg, num_classes=7)
    head = net.classifier.weight.asnumpy()  # a new, small head: fine-tuning starts near uniform predictions
    assert head.shape == (7, 4) and 0.001 < head.std() < 0.02 and not net.classifier.bias.asnumpy().any()
    np.testing.assert_array_equal(net.stem_conv[0].weight.asnumpy(), weights["stem_conv.0.weight"])
    np.testing.assert_array_equal(net.stem_conv[1].moving_mean.asnumpy(), weights["stem_conv.1.moving_mean"])
    messages = " ".join(r.getMessage() for r in logs.records)
    assert "classifier.weight" in messages and "1000 classes" in messages


def test_in_channels_1_sums_the_stem_filters(published):
    cfg, weights = published
    net = load_pretrained(TinyNet(in_channels=1), cfg, in_channels=1)
    expected = weights["stem_conv.0.weight"].sum(axis=1, keepdims=True)
    assert net.stem_conv[0].weight.shape == (4, 1, 3, 3)
    np.testing.assert_allclose(net.stem_conv[0].weight.asnumpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(net.classifier.weight.asnumpy(), weights["classifier.weight"])


def test_unsupported_in_channels_fails_before_downloading(published, tmp_path):
    cfg, _ = published
    with pytest.raises(ValueError, match="in_channels=3.*in_channels=1"):
        load_pretrained(TinyNet(in_channels=2), cfg, in_channels=2)
    assert not (tmp_path / "home" / "models").exists()


def test_empty_url_says_no_weights_are_published():
    with pytest.raises(ValueError, match="no pretrained weights are published for tiny"):
        load_pretrained(TinyNet(), {"url": "", "num_classes": 1000, "name": "tiny"})


def test_filter_fn_sees_and_changes_the_param_dict(published):
    cfg, weights = published
    seen = []

    def drop_bn(params):
        seen.extend(params)
        return {k: v for k, v in params.items() if not k.startswith("stem_conv.1.")}

    net = TinyNet()
    bn_before = net.stem_conv[1].gamma.asnumpy().copy()
    with pytest.raises(CheckpointError, match="stem_conv.1"):  # strict: dropping weights is an error
        load_pretrained(net, cfg, filter_fn=drop_bn)
    assert "stem_conv.1.gamma" in seen
    np.testing.assert_array_equal(net.stem_conv[1].gamma.asnumpy(), bn_before)


def test_wrong_architecture_is_reported_not_silently_random(published):
    cfg, _ = published

    class Other(nn.Cell):
        def __init__(self):
            super().__init__()
            self.body = nn.Dense(4, 4)

    with pytest.raises(CheckpointError, match="holds no parameter of this model"):
        load_pretrained(Other(), cfg)


def save_weights(path, weights: dict, ema: dict = None) -> str:
    items = {k: Tensor(v) for k, v in weights.items()}
    items.update({f"ema.{k}": Tensor(v) for k, v in (ema or {}).items()})
    items["global_step"] = Parameter(Tensor(np.array(5, np.int32)), name="global_step")
    return save_checkpoint_atomic(items, path)


def test_load_checkpoint_path_loads_and_picks_ema(tmp_path):
    weights, ema = published_weights(1), published_weights(2)
    path = save_weights(tmp_path / "run.ckpt", weights, ema)
    net = load_checkpoint_path(TinyNet(), path)
    np.testing.assert_array_equal(net.classifier.weight.asnumpy(), weights["classifier.weight"])
    net = load_checkpoint_path(TinyNet(), path, use_ema=True)
    np.testing.assert_array_equal(net.classifier.weight.asnumpy(), ema["classifier.weight"])


def test_load_checkpoint_path_drops_head_for_other_num_classes(tmp_path):
    weights = published_weights(1)
    path = save_weights(tmp_path / "run.ckpt", weights)
    net = TinyNet(num_classes=3)
    load_checkpoint_path(net, path, num_classes=3)
    assert net.classifier.weight.shape == (3, 4) and np.abs(net.classifier.weight.asnumpy()).max() < 0.06
    np.testing.assert_array_equal(net.stem_conv[0].weight.asnumpy(), weights["stem_conv.0.weight"])
    with pytest.raises(CheckpointError, match="classifier.weight: checkpoint"):
        load_checkpoint_path(TinyNet(num_classes=3), path)  # without num_classes the mismatch is an error


def test_load_checkpoint_path_adapts_rgb_stem_to_one_channel(tmp_path):
    weights = published_weights(1)
    path = save_weights(tmp_path / "run.ckpt", weights)
    net = load_checkpoint_path(TinyNet(in_channels=1), path, num_classes=1000, in_channels=1)
    np.testing.assert_allclose(net.stem_conv[0].weight.asnumpy(),
                               weights["stem_conv.0.weight"].sum(axis=1, keepdims=True), rtol=1e-6)
    grey = save_checkpoint_atomic(net, tmp_path / "grey.ckpt")  # already 1-channel: loaded as is
    again = load_checkpoint_path(TinyNet(in_channels=1), grey, in_channels=1)
    np.testing.assert_array_equal(again.stem_conv[0].weight.asnumpy(), net.stem_conv[0].weight.asnumpy())
    with pytest.raises(CheckpointError, match="stem_conv.0.weight: checkpoint"):
        load_checkpoint_path(TinyNet(in_channels=2), path, in_channels=2)


def test_load_checkpoint_path_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        load_checkpoint_path(TinyNet(), str(tmp_path / "missing.ckpt"))
    other = save_checkpoint_atomic({"encoder.w": Tensor(np.ones(3, np.float32))}, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match="holds no parameter of this model"):
        load_checkpoint_path(TinyNet(), other)
