"""timm-structure variants: MixNet-XL's size, the repeat multiplier, the registered options, and logit
parity of converted weights with the real geffnet (timm's MixNet code as a package).

geffnet and torch run in one subprocess (tests/peers/geffnet_dump.py) with the directory named by
``TORCH_PEER_PATH`` on PYTHONPATH; requirements-peers-torch.txt lists what goes there. It dumps the
random-weight state dicts (random BN statistics too), one shared 64x64 input and geffnet's logits;
this process converts each state dict and compares logits. The peer tests skip when it is absent.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import mindspore as ms

from mindcv.models import create_model, mixnet
from mindcv.models.convert import convert_state_dict, convert_timm_checkpoint, read_state_dict
from mindcv.models.mixnet import ARCH_TABLES, TIMM_VARIANTS, scale_repeats
from mindcv.utils.checkpoint import load_model_weights
from mindcv.models.summary import count_macs, count_params

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DUMP = os.path.join(os.path.dirname(HERE), "peers", "geffnet_dump.py")
CLI = os.path.join(ROOT, "tools", "convert_weights.py")
PEER = os.environ.get("TORCH_PEER_PATH", os.path.expanduser("~/.cache/mixnet-ms/peers/torch-geffnet"))
HAVE_PEER = all(os.path.isfile(os.path.join(PEER, *parts)) for parts in
                (("geffnet", "gen_efficientnet.py"), ("torch", "__init__.py")))
needs_peer = pytest.mark.skipif(
    not HAVE_PEER, reason=f"torch + geffnet peer not installed at {PEER} (set TORCH_PEER_PATH; "
                          "pip install --no-deps --target DIR -r requirements-peers-torch.txt)")
SIZE = 64  # even: TF 'SAME' padding is asymmetric on every stride-2 conv
TOLERANCE = 1e-4


# ------------------------------------------------------------------ structure (no peer needed)


def test_mixnet_xl_size_and_multiply_adds():
    net = create_model("mixnet_xl")
    assert len(net.layers) == 23
    assert net.stage_depths == [1, 2, 5, 5, 5, 5]
    assert count_params(net) == 11_896_768
    macs = count_macs(net, (224, 224))["total"]
    assert abs(macs - 904.0e6) < 0.05e6, macs


def test_repeat_multiplier_follows_timms_per_stage_rounding():
    _, medium = ARCH_TABLES["medium"]
    assert scale_repeats(medium, 1.0) == list(medium)
    # stage totals 1, 2, 4, 4, 4, 4 -> round(x 1.3) = 1, 3 (2.6), 5 (5.2) ...; the last run takes the increase
    scaled = scale_repeats(medium, 1.3)
    net = create_model("mixnet_m", repeat_multiplier=1.3, num_classes=10)
    assert len(net.layers) == len(scaled) == 1 + 3 + 4 * 5
    assert net.stage_depths == [1, 3, 5, 5, 5, 5]
    # the added stage-1 block repeats the 3x3 block: stride 1, 32 -> 32 channels
    assert scaled[3] == scaled[2] and scaled[3].stride == 1 and scaled[3].in_chs == scaled[3].out_chs == 32
    # round half to even (Python's round, as timm): stage of 2 blocks x 1.25 = 2.5 -> 2
    assert len(scale_repeats(medium, 1.25)) == 1 + 2 + 4 * 5
    # every run keeps at least one block: x0.5 gives stages of 1, 2 (1 + 1), 3 (1 + round(1.5) = 2) blocks
    assert len(scale_repeats(medium, 0.5)) == 1 + 2 + 4 * 3
    with pytest.raises(ValueError, match="repeat_multiplier"):
        create_model("mixnet_s", repeat_multiplier=0)


def test_registered_variants_carry_the_options_their_weights_need():
    expected = {"mixnet_s": ("relu", "symmetric", 1e-5), "timm_mixnet_s": ("swish", "symmetric", 1e-5),
                "mixnet_xl": ("swish", "symmetric", 1e-5), "tf_mixnet_l": ("swish", "same", 1e-3)}
    for name, (se_act, padding, eps) in expected.items():
        net = create_model(name, num_classes=10)
        opts = net.variant_options
        assert (opts["se_act"], opts["padding"], opts["bn_eps"], opts["bn_momentum"]) == (se_act, padding, eps, 0.9)
        assert net.layers[5].convs[1].eps == pytest.approx(eps)
    assert create_model("tf_mixnet_s", padding="symmetric").variant_options["padding"] == "symmetric"
    with pytest.raises(ValueError, match="bn_momentum"):
        create_model("tf_mixnet_s", bn_momentum=1.5)
    with pytest.raises(ValueError, match="convert_weights.py"):
        create_model("tf_mixnet_s", pretrained=True)


# ------------------------------------------------------------------ parity with geffnet


@pytest.fixture(scope="module")
def peer_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("geffnet")
    env = dict(os.environ, PYTHONPATH=PEER, GLOG_v="3")
    result = subprocess.run([sys.executable, DUMP, str(out), str(SIZE)], env=env, capture_output=True, text=True,
                            timeout=600, cwd=str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "peer:" in result.stdout and PEER in result.stdout  # it really ran geffnet from the peer
    depths = [line for line in result.stdout.splitlines() if line.startswith("depths:")]
    (out / "depths.json").write_text(depths[0][len("depths:"):])
    return out


def _logits(net, x: np.ndarray) -> np.ndarray:
    ms.set_context(mode=ms.PYNATIVE_MODE)
    net.set_train(False)
    return net(ms.Tensor(x)).asnumpy()


@needs_peer
@pytest.mark.parametrize("ours", sorted(TIMM_VARIANTS))
def test_converted_weights_give_geffnets_logits(peer_dir, tmp_path, ours):
    timm_name = TIMM_VARIANTS[ours][3]
    ckpt = convert_timm_checkpoint(str(peer_dir / f"{timm_name}.safetensors"), ours, output=str(tmp_path / "w.ckpt"))
    net = create_model(ours, checkpoint_path=ckpt)
    theirs = np.load(peer_dir / f"{timm_name}_logits.npy")
    ours_logits = _logits(net, np.load(peer_dir / "input.npy"))
    assert ours_logits.shape == theirs.shape == (2, 1000)
    assert np.abs(ours_logits - theirs).max() <= TOLERANCE


@needs_peer
def test_repeat_multiplier_gives_geffnets_stage_depths(peer_dir):
    theirs = json.loads((peer_dir / "depths.json").read_text())
    assert len(theirs) >= 4
    for multiplier, depths in theirs.items():
        net = create_model("mixnet_m", repeat_multiplier=float(multiplier), num_classes=10)
        assert net.stage_depths == depths, multiplier


@needs_peer
def test_structural_options_matter_for_parity(peer_dir):
    """The same tensors in a model lacking TF padding / eps, or with ReLU in SE, fail the parity tolerance."""
    x, theirs = np.load(peer_dir / "input.npy"), np.load(peer_dir / "tf_mixnet_s_logits.npy")
    state = read_state_dict(str(peer_dir / "tf_mixnet_s.safetensors"))
    for wrong in ({"padding": "symmetric"}, {"bn_eps": 1e-5}, {"se_act": "relu"}):
        net = create_model("tf_mixnet_s", **wrong)
        load_model_weights(net, convert_state_dict(state, net))
        assert np.abs(_logits(net, x) - theirs).max() > 2 * TOLERANCE, wrong


@needs_peer
def test_cli_converts_a_pth_file_with_torch(peer_dir, tmp_path):
    out = tmp_path / "tf_mixnet_s.ckpt"
    env = dict(os.environ, PYTHONPATH=PEER, GLOG_v="3")
    result = subprocess.run([sys.executable, CLI, str(peer_dir / "tf_mixnet_s.pth"), "--model", "tf_mixnet_s",
                             "--output", str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    net = create_model("tf_mixnet_s", checkpoint_path=str(out))
    theirs = np.load(peer_dir / "tf_mixnet_s_logits.npy")
    assert np.abs(_logits(net, np.load(peer_dir / "input.npy")) - theirs).max() <= TOLERANCE


def test_mixnet_module_lists_every_timm_variant():
    for name in TIMM_VARIANTS:
        assert name in mixnet.__all__ and name in mixnet.default_cfgs
        assert mixnet.default_cfgs[name]["source"] == "timm" and mixnet.default_cfgs[name]["url"] == ""
