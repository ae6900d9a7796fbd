"""PaddleClas / pytorchcv (imgclsmob) -> MindSpore weight conversion without any peer: the restricted .pdparams
reader, the name mapping, refusals, metadata, eval settings, the CLI and the README weights table.

The imgclsmob names and state-dict sizes spot-checked here were read from pytorchcv 0.0.74's real mixnet_s /
mixnet_l state dicts; tests/models/test_imgclsmob_parity.py checks every tensor against the real peers.
"""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from mindcv.models import create_model
from mindcv.models.convert import ConversionError
from mindcv.models.convert_imgclsmob import (convert_imgclsmob_checkpoint, convert_imgclsmob_state_dict,
                                             detect_variant, eval_settings_for, guess_source, imgclsmob_name_map,
                                             read_pdparams)
from mindcv.models.mixnet import default_cfgs
from mindcv.models.weights_doc import weights_entries, weights_table_markdown
from mindcv.utils.checkpoint import CheckpointError, read_checkpoint_meta

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.path.join(ROOT, "tools", "convert_weights.py")

# (MindSpore name, pytorchcv name, shape) from pytorchcv's mixnet_s / mixnet_l state dicts.
MIXNET_S_NAMES = [
    ("stem_conv.0.weight", "features.init_block.conv1.conv.weight", (16, 3, 3, 3)),
    ("stem_conv.1.moving_variance", "features.init_block.conv1.bn.running_var", (16,)),
    ("layers.0.convs.0.mixed_depthwise_conv.weight", "features.init_block.conv2.conv1.conv.weight", (16, 1, 3, 3)),
    ("layers.0.convs.3.grouped_conv.weight", "features.init_block.conv2.conv2.conv.weight", (16, 16, 1, 1)),
    ("layers.1.convs.0.grouped_conv.1.weight", "features.stage1.unit1.exp_conv.conv.1.weight", (48, 8, 1, 1)),
    ("layers.1.convs.1.gamma", "features.stage1.unit1.exp_conv.bn.weight", (96,)),
    ("layers.1.convs.6.grouped_conv.0.weight", "features.stage1.unit1.conv2.conv.0.weight", (12, 48, 1, 1)),
    ("layers.3.convs.3.mixed_depthwise_conv.2.weight", "features.stage2.unit1.conv1.conv.2.weight", (48, 1, 7, 7)),
    ("layers.3.convs.6.conv_reduce.weight", "features.stage2.unit1.se.conv1.weight", (12, 144, 1, 1)),
    ("layers.3.convs.6.conv_expand.bias", "features.stage2.unit1.se.conv2.bias", (144,)),
    ("layers.3.convs.8.moving_mean", "features.stage2.unit1.conv2.bn.running_mean", (40,)),
    ("layers.13.convs.3.mixed_depthwise_conv.4.weight", "features.stage4.unit4.conv1.conv.4.weight",
     (144, 1, 11, 11)),
    ("layers.13.convs.6.conv_reduce.weight", "features.stage4.unit4.se.conv1.weight", (60, 720, 1, 1)),
    ("head_conv.0.weight", "features.final_block.conv.weight", (1536, 200, 1, 1)),
    ("head_conv.1.beta", "features.final_block.bn.bias", (1536,)),
    ("classifier.weight", "output.weight", (1000, 1536)),
]
MIXNET_L_NAMES = [
    ("stem_conv.0.weight", "features.init_block.conv1.conv.weight", (32, 3, 3, 3)),
    ("layers.1.convs.0.grouped_conv.0.weight", "features.stage1.unit1.exp_conv.conv.0.weight", (96, 16, 1, 1)),
]
# Entries of pytorchcv's state dicts: parameters + BN statistics + one num_batches_tracked per BN.
PYTORCHCV_ENTRIES = {"timm_mixnet_s": 396, "timm_mixnet_l": 479}


def imgclsmob_state(model, source: str = "imgclsmob", seed: int = 0) -> dict:
    """Random tensors under the source's names and layouts (Paddle: Linear weight [in, out], no BN counters)."""
    rng = np.random.default_rng(seed)
    shapes = {p.name: tuple(p.shape) for p in model.get_parameters()}
    state = {}
    for ms_name, name in imgclsmob_name_map(model, source).items():
        value = rng.normal(0, 0.1, shapes[ms_name]).astype(np.float32)
        state[name] = value.T.copy() if (source == "paddleclas" and name == "output.weight") else value
    if source == "imgclsmob":
        for name in [k for k in state if k.endswith("running_var")]:
            state[name[: -len("running_var")] + "num_batches_tracked"] = np.array(3, dtype=np.int64)
    return state


def write_pdparams(path, state: dict, protocol: int = 4) -> str:
    """A file as paddle.save(state_dict) writes it: a pickled dict of arrays plus Paddle's name table."""
    obj = dict(state)
    obj["StructuredToParameterName@@"] = {k: f"p_{i}" for i, k in enumerate(state)}
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    return str(path)


@pytest.fixture(scope="module")
def small_model():
    return create_model("timm_mixnet_s")


@pytest.fixture(scope="module")
def medium_model():
    return create_model("timm_mixnet_m")


# ------------------------------------------------------------------ names


@pytest.mark.parametrize("name,expected", [("timm_mixnet_s", MIXNET_S_NAMES), ("timm_mixnet_l", MIXNET_L_NAMES)])
def test_name_map_gives_pytorchcvs_names(name, expected):
    model = create_model(name)
    mapping = imgclsmob_name_map(model)
    shapes = {p.name: tuple(p.shape) for p in model.get_parameters()}
    for ms_name, theirs, shape in expected:
        assert mapping[ms_name] == theirs
        assert shapes[ms_name] == shape
    assert len(set(mapping.values())) == len(mapping)  # one-to-one
    n_bn = sum(1 for v in mapping.values() if v.endswith(".running_var"))
    assert len(mapping) + n_bn == PYTORCHCV_ENTRIES[name]


def test_paddle_names_differ_only_in_bn_statistics(small_model):
    torch_names, paddle_names = imgclsmob_name_map(small_model), imgclsmob_name_map(small_model, "paddleclas")
    assert paddle_names["stem_conv.1.moving_mean"] == "features.init_block.conv1.bn._mean"
    assert paddle_names["head_conv.1.moving_variance"] == "features.final_block.bn._variance"
    differ = {k for k in torch_names if torch_names[k] != paddle_names[k]}
    assert differ and all(k.endswith(("moving_mean", "moving_variance")) for k in differ)


def test_source_is_guessed_from_the_file_name():
    assert guess_source("/x/MixNet_S_pretrained.pdparams") == "paddleclas"
    assert guess_source("mixnet_l-0571-c686ba17.pth") == "imgclsmob"
    assert guess_source("mixnet_s-a907afbc.pth") is None  # timm's release file
    assert guess_source("model.safetensors") is None


# ------------------------------------------------------------------ the .pdparams reader


@pytest.mark.parametrize("protocol", [2, 4])
def test_pdparams_reader_returns_the_arrays(tmp_path, protocol):
    state = {"a.weight": np.arange(6, dtype=np.float64).reshape(2, 3), "a._mean": np.ones(3, np.float32)}
    arrays = read_pdparams(write_pdparams(tmp_path / "w.pdparams", state, protocol))
    assert sorted(arrays) == ["a._mean", "a.weight"]  # the name table is skipped
    assert arrays["a.weight"].dtype == np.float32
    np.testing.assert_array_equal(arrays["a.weight"], state["a.weight"])


class _Payload:
    """Unpickling this would run os.system: the reader must refuse it before anything runs."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pdparams_reader_refuses_other_objects(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pdparams"
    with open(path, "wb") as f:
        pickle.dump({"w": np.zeros(2, np.float32), "x": _Payload(str(marker))}, f, protocol=2)
    with pytest.raises(ConversionError, match=r"evil\.pdparams holds a pickled (posix|os|nt)\.system.*refused"):
        read_pdparams(str(path))
    assert not marker.exists()


@pytest.mark.parametrize("obj,message", [
    ([np.zeros(2)], "holds a pickled list, not a dict"),
    ({"w": {1, 2}}, "entry 'w' is a set, not a numeric numpy array"),
    ({"w": np.array([None, 1], dtype=object)}, "entry 'w' is an object array"),
])
def test_pdparams_reader_refuses_what_is_not_a_dict_of_arrays(tmp_path, obj, message):
    path = tmp_path / "w.pdparams"
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=4)
    with pytest.raises(ConversionError, match=message):
        read_pdparams(str(path))


def test_pdparams_reader_names_a_file_of_another_format(tmp_path):
    path = tmp_path / "w.pdparams"
    path.write_bytes(b"PK\x03\x04 a zip archive")
    with pytest.raises(ConversionError, match=r"w\.pdparams is not a readable \.pdparams file"):
        read_pdparams(str(path))
    with pytest.raises(FileNotFoundError, match="missing.pdparams"):
        read_pdparams(str(tmp_path / "missing.pdparams"))


# ------------------------------------------------------------------ conversion and refusals


def test_paddle_weights_convert_with_the_classifier_transposed(small_model):
    state = imgclsmob_state(small_model, "paddleclas")
    params = convert_imgclsmob_state_dict(state, small_model, "paddleclas")
    assert len(params) == len(list(small_model.get_parameters()))
    np.testing.assert_array_equal(params["classifier.weight"], state["output.weight"].T)
    np.testing.assert_array_equal(params["stem_conv.1.moving_variance"],
                                  state["features.init_block.conv1.bn._variance"])


def test_wrong_variant_is_refused_naming_the_right_one(tmp_path, small_model):
    path = write_pdparams(tmp_path / "MixNet_S_pretrained.pdparams", imgclsmob_state(small_model, "paddleclas"))
    with pytest.raises(ConversionError, match=r"holds MixNet-S weights \(16-channel stem\), not MixNet-M: "
                                              r"use --model timm_mixnet_s"):
        convert_imgclsmob_checkpoint(path, "timm_mixnet_m", output=str(tmp_path / "x.ckpt"))
    with pytest.raises(ConversionError, match="use --model timm_mixnet_s"):
        convert_imgclsmob_checkpoint(path, "tf_mixnet_s", output=str(tmp_path / "x.ckpt"))
    assert not (tmp_path / "x.ckpt").exists()


def test_mismatched_state_dict_lists_missing_and_unexpected_keys(small_model, medium_model):
    state = imgclsmob_state(small_model)
    del state["features.stage2.unit1.se.conv1.bias"]
    state["features.stage9.unit1.conv1.conv.weight"] = np.zeros((1, 1, 3, 3), np.float32)
    state["output.bias"] = np.zeros(10, np.float32)
    with pytest.raises(ConversionError) as err:
        convert_imgclsmob_state_dict(state, small_model, file="part.pth")
    message = str(err.value)
    assert "part.pth does not fit this model" in message
    assert "missing (1): features.stage2.unit1.se.conv1.bias" in message
    assert "unexpected (1): features.stage9.unit1.conv1.conv.weight" in message
    assert "wrong shape (1): output.bias (10,) (needs (1000,))" in message
    assert "\n" not in message
    # S tensors into M: the stem says which variant they are
    with pytest.raises(ConversionError, match=r"missing \(\d+\).*its stem says MixNet-S: use --model timm_mixnet_s"):
        convert_imgclsmob_state_dict(imgclsmob_state(small_model), medium_model)
    assert detect_variant(imgclsmob_state(medium_model)) == "timm_mixnet_m"


def test_checkpoint_records_the_variant_and_the_weights(tmp_path, small_model):
    path = write_pdparams(tmp_path / "MixNet_S_pretrained.pdparams", imgclsmob_state(small_model, "paddleclas"),
                          protocol=2)
    ckpt = convert_imgclsmob_checkpoint(path, output=str(tmp_path / "s.ckpt"))  # the size comes from the stem
    meta = read_checkpoint_meta(ckpt)
    assert meta["model_name"] == "timm_mixnet_s" and meta["weights"] == "timm_mixnet_s.paddleclas"
    assert '"se_act": "swish"' in meta["variant_options"]
    assert meta["converted_from"].startswith("MixNet_S_pretrained.pdparams sha256:")
    net = create_model("timm_mixnet_s", checkpoint_path=ckpt)
    np.testing.assert_allclose(net.classifier.weight.asnumpy(),
                               read_pdparams(path)["output.weight"].T)
    with pytest.raises(CheckpointError, match="se_act='swish'"):
        create_model("mixnet_s", checkpoint_path=ckpt)  # MindCV's ReLU squeeze-excite


def test_eval_settings_follow_the_weights():
    paddle = eval_settings_for({"model_name": "timm_mixnet_l", "weights": "timm_mixnet_l.paddleclas"})
    assert paddle == {"image_resize": 224, "crop_pct": 0.875, "interpolation": "bilinear",
                      "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375],
                      "weights": "timm_mixnet_l.paddleclas"}
    assert eval_settings_for({"model_name": "timm_mixnet_s", "weights": "timm_mixnet_s.imgclsmob"})["crop_pct"] == 0.875
    timm = eval_settings_for({"model_name": "timm_mixnet_s"})  # a timm conversion records no 'weights'
    assert (timm["interpolation"], timm["weights"]) == ("pilcubic", "timm_mixnet_s")
    assert eval_settings_for({"model_name": "mixnet_s"})["interpolation"] == "bicubic"  # the validation settings of MindCV's recipes
    assert eval_settings_for({}) == {} and eval_settings_for({"model_name": "resnet50"}) == {}


# ------------------------------------------------------------------ metadata and the README table


def test_imported_weight_entries_are_complete():
    keys = [k for k in default_cfgs if k.endswith((".paddleclas", ".imgclsmob"))]
    assert len(keys) == 6
    for key in keys:
        cfg = default_cfgs[key]
        assert cfg["weights"] == key and key.startswith(cfg["name"] + ".")
        assert cfg["url"] == "" and cfg["source_url"].startswith("https://")
        assert cfg["source_url"].rsplit("/", 1)[-1].startswith(cfg["file"])
        assert cfg["licence"] == ("Apache-2.0" if cfg["source"] == "PaddleClas" else "MIT")
        assert 75 < cfg["top1"] < 80 and 92 < cfg["top5"] < 95
        assert guess_source(cfg["file"]) == key.rsplit(".", 1)[1]
    assert default_cfgs["timm_mixnet_s.paddleclas"]["top1"] == 76.28
    assert default_cfgs["timm_mixnet_l.imgclsmob"]["file"] == "mixnet_l-0571-c686ba17.pth"
    assert default_cfgs["timm_mixnet_l.imgclsmob"]["sha1"].startswith("c686ba17")


def test_weights_table_has_a_row_for_every_entry():
    table = weights_table_markdown()
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    entries = weights_entries()
    assert len(rows) == len(entries)
    for cfg in entries.values():
        file = cfg.get("file") or (cfg.get("url") or cfg["source_url"]).rsplit("/", 1)[-1]
        assert sum(file in row for row in rows) == 1, file
    assert ("| `timm_mixnet_s` | PaddleClas [MixNet_S_pretrained.pdparams](https://paddle-imagenet-models-name.bj."
            "bcebos.com/dygraph/MixNet_S_pretrained.pdparams) | 76.28 | 92.99 | 224, 0.875, bilinear | Apache-2.0 | "
            "`python tools/convert_weights.py MixNet_S_pretrained.pdparams --model timm_mixnet_s` |") in rows


# ------------------------------------------------------------------ the CLI (no torch, no paddle)


def _cli(*args, cwd=None):
    env = dict(os.environ, GLOG_v="3", PYTHONPATH=ROOT)  # this clone's mindcv, whichever clone the venv points at
    return subprocess.run([sys.executable, CLI, *args], env=env, capture_output=True, text=True, timeout=300,
                          cwd=cwd)


def test_cli_converts_a_pdparams_file_and_refuses_a_wrong_model(tmp_path, medium_model):
    path = write_pdparams(tmp_path / "MixNet_M_pretrained.pdparams", imgclsmob_state(medium_model, "paddleclas"))
    result = _cli(path, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    written = result.stdout.strip().splitlines()[-1]
    assert os.path.basename(written).startswith("timm_mixnet_m-") and os.path.isfile(written)
    assert "--model timm_mixnet_m" in result.stderr
    result = _cli(path, "--model", "timm_mixnet_l", "--output", str(tmp_path / "l.ckpt"))
    assert result.returncode == 2
    error = result.stderr.strip().splitlines()
    assert error == [f"convert_weights.py: error: MixNet_M_pretrained.pdparams holds MixNet-M weights (24-channel stem), "
                     f"not MixNet-L: use --model timm_mixnet_m"]
    assert not (tmp_path / "l.ckpt").exists()
