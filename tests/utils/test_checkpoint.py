"""Checkpoint I/O on a tiny cell with MindCV-style names (stem_conv.0 conv, stem_conv.1 BN, classifier)."""
import json
import logging
import os

import numpy as np
import pytest

import mindspore as ms
from mindspore import Parameter, Tensor, nn

from mindcv.utils import checkpoint as ck
from mindcv.utils.checkpoint import (CheckpointError, load_model_weights, load_param_dict, read_checkpoint_meta,
                                     save_checkpoint_atomic)


class TinyNet(nn.Cell):
    """Stem conv + BN + Dense head, named like MindCV's MixNet."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.stem_conv = nn.SequentialCell([nn.Conv2d(in_channels, 4, 3, has_bias=False), nn.BatchNorm2d(4)])
        self.classifier = nn.Dense(4, num_classes)

    def construct(self, x):
        return self.classifier(self.stem_conv(x).mean((2, 3)))


@pytest.fixture
def logs(caplog):
    pkg = logging.getLogger("mindcv")
    pkg.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="mindcv")
    yield caplog
    pkg.removeHandler(caplog.handler)


def arrays(net: nn.Cell) -> dict:
    return {p.name: p.asnumpy().copy() for p in net.get_parameters()}


def random_params(net: nn.Cell, seed: int, prefix: str = "") -> dict:
    """Parameters shaped like `net`'s with random values, names optionally prefixed."""
    rng = np.random.default_rng(seed)
    return {prefix + p.name: Parameter(Tensor(rng.standard_normal(p.shape).astype(np.float32)), name=prefix + p.name)
            for p in net.get_parameters()}


def training_checkpoint(tmp_path, with_ema: bool = True) -> tuple:
    """A checkpoint as MindCV training writes it: weights, optimizer state, EMA, scalars, metadata."""
    net = TinyNet()
    weights = random_params(net, 1)
    items = dict(weights)
    items.update(random_params(net, 2, "moments."))
    items.update(random_params(net, 3, "adam_m."))
    items.update(random_params(net, 4, "adam_v."))
    items.update(random_params(net, 5, "accum."))
    items.update(random_params(net, 6, "stat."))
    ema = random_params(net, 7, "ema.") if with_ema else {}
    items.update(ema)
    for name, value in (("global_step", 100), ("learning_rate", 0.1), ("momentum", 0.9), ("scale_sense", 256.0),
                        ("updates", 100)):
        items[name] = Parameter(Tensor(np.array(value, np.float32)), name=name)
    path = str(tmp_path / "train.ckpt")
    save_checkpoint_atomic(items, path, append_dict={"model_name": "mixnet_s", "epoch_num": 7,
                                                     "variant_options": json.dumps({"se_act": "relu"})})
    return path, {k: v.asnumpy() for k, v in weights.items()}, {k[4:]: v.asnumpy() for k, v in ema.items()}


def test_save_and_load_round_trip_with_metadata(tmp_path):
    net = TinyNet()
    path = save_checkpoint_atomic(net, tmp_path / "sub" / "m.ckpt",
                                  append_dict={"model_name": "mixnet_s", "epoch_num": 3,
                                               "variant_options": json.dumps({"a": 1})})
    assert path == str(tmp_path / "sub" / "m.ckpt")
    loaded = load_param_dict(path)
    assert set(loaded) == set(arrays(net)) | {"epoch_num"}  # scalars stay; strings are metadata only
    for name, value in arrays(net).items():
        np.testing.assert_array_equal(loaded[name].asnumpy(), value)
    meta = read_checkpoint_meta(path)
    assert meta["model_name"] == "mixnet_s" and meta["epoch_num"] == 3
    assert json.loads(meta["variant_options"]) == {"a": 1}
    assert not any(f.endswith(".tmp.ckpt") for f in os.listdir(tmp_path / "sub"))


def test_failed_save_leaves_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "m.ckpt"
    save_checkpoint_atomic(TinyNet(), path)
    before = path.read_bytes()

    def broken_save(save_obj, ckpt_file_name, **kwargs):
        with open(ckpt_file_name, "wb") as f:
            f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(ms, "save_checkpoint", broken_save)
    with pytest.raises(ck.CheckpointError, match=f"cannot write the checkpoint {path}: disk full"):
        save_checkpoint_atomic(TinyNet(), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.ckpt"]


def test_append_dict_with_unsupported_value_is_rejected(tmp_path):
    with pytest.raises(TypeError, match="variant_options"):
        save_checkpoint_atomic(TinyNet(), tmp_path / "m.ckpt", append_dict={"variant_options": {"a": 1}})
    assert not (tmp_path / "m.ckpt").exists()


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.ckpt"):
        load_param_dict(tmp_path / "nothere.ckpt")


@pytest.mark.parametrize("content", [b"garbage" * 20, None, b""])
def test_unreadable_file_is_a_clear_error_naming_it(tmp_path, content):
    path = tmp_path / "bad.ckpt"
    if content is None:  # truncated real checkpoint
        save_checkpoint_atomic(TinyNet(), path)
        content = path.read_bytes()[: path.stat().st_size // 2]
        os.chmod(path, 0o600)
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="bad.ckpt"):
        load_param_dict(path)
    with pytest.raises(CheckpointError, match="bad.ckpt"):
        load_model_weights(TinyNet(), str(path))


def test_training_state_is_ignored_and_weights_loaded(tmp_path, logs):
    path, weights, _ = training_checkpoint(tmp_path)
    net = TinyNet()
    missing, unexpected = load_model_weights(net, path)
    assert missing == [] and unexpected == []
    for name, value in arrays(net).items():
        np.testing.assert_array_equal(value, weights[name])
    assert not any(r.levelno >= logging.WARNING for r in logs.records)
    assert any("Loaded 7/7" in r.getMessage() for r in logs.records)


def test_use_ema_picks_ema_weights(tmp_path):
    path, weights, ema = training_checkpoint(tmp_path)
    net = TinyNet()
    load_model_weights(net, path, use_ema=True)
    for name, value in arrays(net).items():
        np.testing.assert_array_equal(value, ema[name])
        assert not np.array_equal(value, weights[name])
    ema_dict = load_param_dict(path, use_ema=True)
    np.testing.assert_array_equal(ema_dict["classifier.weight"].asnumpy(), ema["classifier.weight"])


def test_use_ema_without_ema_entries_is_an_error(tmp_path):
    path, _, _ = training_checkpoint(tmp_path, with_ema=False)
    with pytest.raises(CheckpointError, match="no EMA weights"):
        load_model_weights(TinyNet(), path, use_ema=True)


def test_missing_and_unexpected_are_reported(tmp_path, logs):
    params = random_params(TinyNet(), 1)
    del params["classifier.bias"]
    params["extra_head.weight"] = Parameter(Tensor(np.ones((2, 2), np.float32)), name="extra_head.weight")
    net = TinyNet()
    missing, unexpected = load_model_weights(net, params, strict=False)
    assert missing == ["classifier.bias"] and unexpected == ["extra_head.weight"]
    warnings = " ".join(r.getMessage() for r in logs.records if r.levelno == logging.WARNING)
    assert "classifier.bias" in warnings and "extra_head.weight" in warnings
    np.testing.assert_array_equal(net.classifier.weight.asnumpy(), params["classifier.weight"].asnumpy())
    with pytest.raises(CheckpointError, match="classifier.bias"):
        load_model_weights(TinyNet(), params, strict=True)
    load_model_weights(TinyNet(), params, strict=True, allow_missing=["classifier.bias"])


def test_shape_mismatch_names_each_parameter_with_both_shapes(tmp_path):
    path = str(tmp_path / "five.ckpt")
    save_checkpoint_atomic(TinyNet(num_classes=5), path)
    net = TinyNet(num_classes=10)
    before = arrays(net)
    with pytest.raises(CheckpointError) as info:
        load_model_weights(net, path)
    message = str(info.value)
    assert "classifier.weight: checkpoint (5, 4) vs model (10, 4)" in message
    assert "classifier.bias: checkpoint (5,) vs model (10,)" in message
    assert "five.ckpt" in message
    for name, value in arrays(net).items():  # nothing was loaded
        np.testing.assert_array_equal(value, before[name])


def test_checkpoint_without_any_model_parameter_is_an_error(tmp_path):
    path = str(tmp_path / "other.ckpt")
    save_checkpoint_atomic({"backbone.conv1.weight": np.ones((2, 2), np.float32)}, path)
    with pytest.raises(CheckpointError, match="holds no parameter of this model") as info:
        load_model_weights(TinyNet(), path, strict=False)
    assert "other.ckpt" in str(info.value) and "stem_conv.0.weight" in str(info.value)


def test_training_state_names_do_not_shadow_model_parameters():
    assert ck.is_training_state("moments.stem_conv.0.weight") and ck.is_training_state("scale_sense")
    assert not ck.is_training_state("stem_conv.0.weight")


def test_save_accepts_list_of_name_data_dicts(tmp_path):
    path = str(tmp_path / "l.ckpt")
    save_checkpoint_atomic([{"name": "w", "data": Tensor(np.arange(4, dtype=np.float32))}], path)
    np.testing.assert_array_equal(load_param_dict(path)["w"].asnumpy(), np.arange(4, dtype=np.float32))
    with pytest.raises(TypeError, match="params_or_cell"):
        save_checkpoint_atomic(42, path)
