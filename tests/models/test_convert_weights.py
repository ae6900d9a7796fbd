"""timm -> MindSpore weight conversion without PyTorch: names, checks, metadata, the CLI, variant checks.

The timm names spot-checked here were read from geffnet 1.0.2's real state dicts (mixnet_s and
mixnet_xl); tests/models/test_timm_parity.py checks every tensor against the real peer.
"""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import save_file

import mindspore as ms

from mindcv.models import create_model
from mindcv.models.convert import (ConversionError, check_variant, checkpoint_meta, convert_state_dict,
                                   convert_timm_checkpoint, read_state_dict, timm_name_map)
from mindcv.utils.checkpoint import CheckpointError, read_checkpoint_meta

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.path.join(ROOT, "tools", "convert_weights.py")

# (MindSpore name, timm name, shape) read from geffnet's mixnet_s / mixnet_xl state dicts.
MIXNET_S_NAMES = [
    ("stem_conv.0.weight", "conv_stem.weight", (16, 3, 3, 3)),
    ("stem_conv.1.moving_variance", "bn1.running_var", (16,)),
    ("layers.0.convs.0.mixed_depthwise_conv.weight", "blocks.0.0.conv_dw.weight", (16, 1, 3, 3)),
    ("layers.0.convs.4.moving_variance", "blocks.0.0.bn2.running_var", (16,)),
    ("layers.1.convs.6.grouped_conv.1.weight", "blocks.1.0.conv_pwl.1.weight", (12, 48, 1, 1)),
    ("layers.3.convs.3.mixed_depthwise_conv.2.weight", "blocks.2.0.conv_dw.2.weight", (48, 1, 7, 7)),
    ("layers.3.convs.6.conv_reduce.bias", "blocks.2.0.se.conv_reduce.bias", (12,)),
    ("layers.15.convs.8.beta", "blocks.5.2.bn3.bias", (200,)),
    ("head_conv.0.weight", "conv_head.weight", (1536, 200, 1, 1)),
    ("head_conv.1.gamma", "bn2.weight", (1536,)),
    ("classifier.weight", "classifier.weight", (1000, 1536)),
]
MIXNET_XL_NAMES = [
    ("layers.3.convs.3.mixed_depthwise_conv.2.weight", "blocks.2.0.conv_dw.2.weight", (72, 1, 7, 7)),
    ("layers.7.convs.3.mixed_depthwise_conv.1.weight", "blocks.2.4.conv_dw.1.weight", (192, 1, 5, 5)),
    ("layers.13.convs.0.grouped_conv.weight", "blocks.4.0.conv_pw.weight", (768, 128, 1, 1)),
    ("layers.22.convs.7.grouped_conv.1.weight", "blocks.5.4.conv_pwl.1.weight", (160, 960, 1, 1)),
]


def timm_state_dict(model, seed: int = 0, with_bn_counters: bool = True) -> dict:
    """A timm-layout state dict of random tensors shaped like `model`'s (+ num_batches_tracked entries)."""
    rng = np.random.default_rng(seed)
    shapes = {p.name: tuple(p.shape) for p in model.get_parameters()}
    state = {t: rng.normal(0, 0.1, shapes[m]).astype(np.float32) for m, t in timm_name_map(model).items()}
    if with_bn_counters:
        for name in [k for k in state if k.endswith("running_var")]:
            state[name[: -len("running_var")] + "num_batches_tracked"] = np.array(7, dtype=np.int64)
    return state


@pytest.fixture(scope="module")
def small_model():
    return create_model("timm_mixnet_s")


@pytest.fixture(scope="module")
def small_file(tmp_path_factory, small_model):
    """timm_mixnet_s-shaped weights saved as timm's hub does (.safetensors), plus the dict itself."""
    state = timm_state_dict(small_model)
    path = str(tmp_path_factory.mktemp("timm") / "mixnet_s.safetensors")
    save_file(state, path)
    return path, state


@pytest.mark.parametrize("name,expected", [("timm_mixnet_s", MIXNET_S_NAMES), ("mixnet_xl", MIXNET_XL_NAMES)])
def test_name_map_gives_timms_names(name, expected):
    model = create_model(name)
    mapping = timm_name_map(model)
    shapes = {p.name: tuple(p.shape) for p in model.get_parameters()}
    for ms_name, timm_name, shape in expected:
        assert mapping[ms_name] == timm_name
        assert shapes[ms_name] == shape
    assert len(set(mapping.values())) == len(mapping)  # one-to-one


def test_timm_state_dict_of_mixnet_s_has_timms_size(small_model):
    # geffnet's mixnet_s state dict: 396 entries, 49 of them num_batches_tracked
    state = timm_state_dict(small_model)
    assert len(state) == 396 and sum(k.endswith("num_batches_tracked") for k in state) == 49


def test_safetensors_converts_without_torch_and_loads_with_its_variant(tmp_path, small_file, monkeypatch):
    path, state = small_file
    monkeypatch.setitem(sys.modules, "torch", None)  # any import of torch would fail
    out = convert_timm_checkpoint(path, "timm_mixnet_s", output=str(tmp_path / "converted.ckpt"))
    meta = read_checkpoint_meta(out)
    assert meta["model_name"] == "timm_mixnet_s"
    options = json.loads(meta["variant_options"])
    assert options["se_act"] == "swish" and options["padding"] == "symmetric" and options["arch"] == "small"
    assert meta["converted_from"].startswith("mixnet_s.safetensors sha256:")
    net = create_model("timm_mixnet_s", checkpoint_path=out)
    mapping = timm_name_map(net)
    for p in net.get_parameters():
        np.testing.assert_array_equal(p.asnumpy(), state[mapping[p.name]])


def test_converted_checkpoint_fine_tunes_with_another_head(tmp_path, small_file):
    out = convert_timm_checkpoint(small_file[0], "timm_mixnet_s", output=str(tmp_path / "c.ckpt"))
    net = create_model("timm_mixnet_s", num_classes=10, checkpoint_path=out)
    assert net.classifier.weight.shape == (10, 1536)
    np.testing.assert_array_equal(net.stem_conv[0].weight.asnumpy(), small_file[1]["conv_stem.weight"])


def test_default_output_name_is_mindcv_style(tmp_path, small_file, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = convert_timm_checkpoint(small_file[0], "timm_mixnet_s")
    name = os.path.basename(out)
    assert os.path.dirname(out) == str(tmp_path) and name.startswith("timm_mixnet_s-") and name.endswith(".ckpt")
    assert len(name) == len("timm_mixnet_s-12345678.ckpt")
    assert [f for f in os.listdir(tmp_path) if f.startswith(".")] == []  # no temporary file left


def test_wrapper_prefixes_are_stripped(tmp_path, small_model):
    state = {"module." + k: v for k, v in timm_state_dict(small_model).items()}
    path = str(tmp_path / "dp.safetensors")
    save_file(state, path)
    loaded = read_state_dict(path)
    assert "conv_stem.weight" in loaded and not any(k.startswith("module.") for k in loaded)


def test_other_architecture_is_refused_naming_the_first_mismatch(tmp_path):
    medium = timm_state_dict(create_model("timm_mixnet_m"))
    with pytest.raises(ConversionError) as err:
        convert_state_dict(medium, create_model("timm_mixnet_s"), source="mixnet_m.pth")
    text = str(err.value)
    assert "'conv_stem.weight'" in text and "(24, 3, 3, 3)" in text and "(16, 3, 3, 3)" in text
    assert "timm_mixnet_m" in text and "tf_mixnet_m" in text  # what it does fit


def test_missing_and_unused_tensors_are_named(small_model):
    state = timm_state_dict(small_model)
    del state["blocks.2.0.se.conv_expand.bias"]
    with pytest.raises(ConversionError, match=r"'blocks\.2\.0\.se\.conv_expand\.bias'.*lacks"):
        convert_state_dict(state, small_model)
    state = timm_state_dict(small_model)
    state["blocks.6.0.conv_pw.weight"] = np.zeros((8, 8, 1, 1), np.float32)
    with pytest.raises(ConversionError, match=r"'blocks\.6\.0\.conv_pw\.weight', which has no place"):
        convert_state_dict(state, small_model)


def test_non_mixnet_file_is_refused(tmp_path):
    path = str(tmp_path / "resnet.safetensors")
    save_file({"fc.weight": np.zeros((10, 4), np.float32), "conv1.weight": np.zeros((4, 3, 7, 7), np.float32)}, path)
    with pytest.raises(ConversionError, match="not a timm MixNet state dict"):
        convert_timm_checkpoint(path, "timm_mixnet_s", output=str(tmp_path / "x.ckpt"))
    assert not (tmp_path / "x.ckpt").exists()


def test_mindcv_structure_is_not_a_conversion_target(tmp_path, small_file):
    with pytest.raises(ConversionError, match="se_act='relu'.*timm_mixnet_s.*tf_mixnet_s"):
        convert_timm_checkpoint(small_file[0], "mixnet_s", output=str(tmp_path / "x.ckpt"))


def test_pth_without_torch_says_what_to_do(tmp_path, monkeypatch):
    path = tmp_path / "mixnet_s.pth"
    path.write_bytes(b"PK\x03\x04 not really")
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    with pytest.raises(ConversionError, match="needs PyTorch.*safetensors"):
        read_state_dict(str(path))


def test_unknown_file_type_and_missing_file(tmp_path):
    (tmp_path / "w.npz").write_bytes(b"x")
    with pytest.raises(ConversionError, match="unknown weight file type"):
        read_state_dict(str(tmp_path / "w.npz"))
    with pytest.raises(FileNotFoundError, match="nothere.safetensors"):
        read_state_dict(str(tmp_path / "nothere.safetensors"))


def test_check_variant_names_the_differences(small_model):
    tf_meta = checkpoint_meta(create_model("tf_mixnet_s"), "tf_mixnet_s")
    with pytest.raises(CheckpointError) as err:
        check_variant(small_model, tf_meta, "tf.ckpt")
    text = str(err.value)
    assert "padding='same'" in text and "bn_eps=0.001" in text and "create_model('tf_mixnet_s'" in text
    relu = create_model("mixnet_s")
    with pytest.raises(CheckpointError, match="se_act='swish'.*this model: 'relu'"):
        check_variant(relu, checkpoint_meta(small_model, "timm_mixnet_s"), "timm.ckpt")


def test_check_variant_accepts_same_structure_and_plain_checkpoints(small_model):
    same = create_model("mixnet_s", se_act="silu", num_classes=10)  # silu == swish; the head may differ
    check_variant(same, checkpoint_meta(small_model, "timm_mixnet_s"), "timm.ckpt")
    check_variant(small_model, {"model_name": "mixnet_s"}, "mindcv.ckpt")  # MindCV's checkpoints record none
    with pytest.raises(CheckpointError, match="not valid JSON"):
        check_variant(small_model, {"variant_options": "{oops"}, "bad.ckpt")


def test_create_model_refuses_a_converted_checkpoint_of_another_variant(tmp_path, small_file):
    """Needs pretrained.load_checkpoint_path to call convert.check_variant (the load hook)."""
    out = convert_timm_checkpoint(small_file[0], "timm_mixnet_s", output=str(tmp_path / "c.ckpt"))
    with pytest.raises(CheckpointError, match="timm_mixnet_s.*se_act='swish'"):
        create_model("mixnet_s", checkpoint_path=out)


def test_cli_converts_a_safetensors_file_without_torch(tmp_path, small_file):
    out = tmp_path / "cli.ckpt"
    env = dict(os.environ, GLOG_v="3", PYTHONPATH=ROOT)  # this clone's mindcv, whichever clone the venv points at
    result = subprocess.run([sys.executable, CLI, small_file[0], "--model", "timm_mixnet_s", "--output", str(out)],
                            env=env, capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == str(out)
    params = ms.load_checkpoint(str(out))
    assert params["model_name"] == "timm_mixnet_s"
    assert len([k for k, v in params.items() if isinstance(v, ms.Parameter)]) == 347


def test_cli_reports_errors_with_exit_code_2(tmp_path, small_file, capsys):
    spec = importlib.util.spec_from_file_location("convert_weights", CLI)  # tools/ is not a package
    convert_weights = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(convert_weights)
    code = convert_weights.main([small_file[0], "--model", "timm_mixnet_m", "--output", str(tmp_path / "x.ckpt")])
    assert code == 2
    err = capsys.readouterr().err
    assert "convert_weights.py: error:" in err and "first mismatch is 'conv_stem.weight'" in err
