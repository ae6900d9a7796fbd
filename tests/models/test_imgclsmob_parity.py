"""Logit parity of converted PaddleClas / pytorchcv (imgclsmob) MixNet-S/M/L weights with the real peers, on random
weights (random BatchNorm statistics too), at 224 and at 199 pixels (odd; the final map is still 7x7, the only
size the peers' fixed 7x7 average pool runs at).

- pytorchcv (torch) runs in a subprocess (tests/peers/pytorchcv_dump.py) with ``TORCH_PEER_PATH`` on PYTHONPATH
  (requirements-peers-torch.txt). It writes each model's .pth and the same tensors as a .pdparams file in
  paddle.save's format under PaddleClas's names, so the .pdparams reader is checked on every CI run.
- PaddleClas's own code on PaddlePaddle (tests/peers/paddleclas_dump.py) runs when ``PADDLE_PEER_PATH``
  (requirements-peers-paddle.txt, ~840 MB, not installed by scripts/env.sh) holds it; otherwise those tests skip.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import mindspore as ms

from mindcv.models import create_model
from mindcv.models.convert_imgclsmob import convert_imgclsmob_checkpoint, convert_imgclsmob_state_dict, read_pdparams
from mindcv.utils.checkpoint import load_model_weights

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(os.path.dirname(HERE), "peers")
ROOT = os.path.dirname(os.path.dirname(HERE))
TORCH_PEER = os.environ.get("TORCH_PEER_PATH", os.path.expanduser("~/.cache/mixnet-ms/peers/torch-geffnet"))
PADDLE_PEER = os.environ.get("PADDLE_PEER_PATH", os.path.expanduser("~/.cache/mixnet-ms/peers/paddle"))
HAVE_TORCH_PEER = all(os.path.isfile(os.path.join(TORCH_PEER, *p)) for p in
                      (("pytorchcv", "models", "mixnet.py"), ("torch", "__init__.py")))
HAVE_PADDLE_PEER = all(os.path.isfile(os.path.join(PADDLE_PEER, *p)) for p in
                       (("paddleclas", "ppcls", "arch", "backbone", "model_zoo", "mixnet.py"),
                        ("paddle", "__init__.py")))
needs_torch_peer = pytest.mark.skipif(
    not HAVE_TORCH_PEER, reason=f"torch + pytorchcv peer not installed at {TORCH_PEER} (set TORCH_PEER_PATH; "
                                "pip install --no-deps --target DIR -r requirements-peers-torch.txt)")
needs_paddle_peer = pytest.mark.skipif(
    not HAVE_PADDLE_PEER, reason=f"paddlepaddle + paddleclas peer not installed at {PADDLE_PEER} (set "
                                 "PADDLE_PEER_PATH; pip install --no-deps --target DIR "
                                 "-r requirements-peers-paddle.txt)")
SIZES = (224, 199)
TOLERANCE = 1e-4
VARIANTS = {"s": "timm_mixnet_s", "m": "timm_mixnet_m", "l": "timm_mixnet_l"}


def _dump(script: str, peer: str, out) -> None:
    env = dict(os.environ, PYTHONPATH=peer, GLOG_v="3")
    result = subprocess.run([sys.executable, os.path.join(PEERS, script), str(out), ",".join(map(str, SIZES))],
                            env=env, capture_output=True, text=True, timeout=600, cwd=str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "peer:" in result.stdout and peer in result.stdout  # it really ran the peer's code


@pytest.fixture(scope="module")
def pytorchcv_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("pytorchcv")
    _dump("pytorchcv_dump.py", TORCH_PEER, out)
    return out


@pytest.fixture(scope="module")
def pytorchcv_checkpoints(pytorchcv_dir):
    """The .pth files converted in one subprocess that has torch (this process has not; one start-up for three)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, TORCH_PEER]), GLOG_v="3")
    converted = {size: str(pytorchcv_dir / f"mixnet_{size}_pth.ckpt") for size in VARIANTS}
    args = [a for size in VARIANTS for a in (str(pytorchcv_dir / f"mixnet_{size}.pth"), converted[size])]
    result = subprocess.run([sys.executable, "-c", _CONVERT_PTH, *args], env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "torch" in result.stdout  # the .pth files were read with the peer's torch
    return converted


_CONVERT_PTH = """import sys
import torch
from mindcv.models.convert_imgclsmob import convert_imgclsmob_checkpoint
for source, output in zip(sys.argv[1::2], sys.argv[2::2]):
    convert_imgclsmob_checkpoint(source, output=output, source="imgclsmob")
print("torch", torch.__file__)
"""


@pytest.fixture(scope="module")
def paddleclas_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("paddleclas")
    _dump("paddleclas_dump.py", PADDLE_PEER, out)
    return out


def _logits(net, x: np.ndarray) -> np.ndarray:
    ms.set_context(mode=ms.PYNATIVE_MODE)
    net.set_train(False)
    return net(ms.Tensor(x)).asnumpy()


def _max_diffs(net, peer_dir, prefix: str) -> dict:
    """max |our logits - the peer's| at each size."""
    diffs = {}
    for size in SIZES:
        theirs = np.load(peer_dir / f"{prefix}_{size}_logits.npy")
        ours = _logits(net, np.load(peer_dir / f"input_{size}.npy"))
        assert ours.shape == theirs.shape == (1, 1000)
        diffs[size] = float(np.abs(ours - theirs).max())
    return diffs


@needs_torch_peer
@pytest.mark.parametrize("size", sorted(VARIANTS))
def test_converted_pytorchcv_pth_gives_its_logits(pytorchcv_dir, pytorchcv_checkpoints, size):
    net = create_model(VARIANTS[size], checkpoint_path=pytorchcv_checkpoints[size])
    diffs = _max_diffs(net, pytorchcv_dir, f"mixnet_{size}")
    assert max(diffs.values()) <= TOLERANCE, diffs


@needs_torch_peer
@pytest.mark.parametrize("size", sorted(VARIANTS))
def test_pdparams_in_paddles_format_gives_pytorchcvs_logits(pytorchcv_dir, tmp_path, size):
    ckpt = convert_imgclsmob_checkpoint(str(pytorchcv_dir / f"mixnet_{size}.pdparams"), output=str(tmp_path / "w.ckpt"))
    net = create_model(VARIANTS[size], checkpoint_path=ckpt)
    diffs = _max_diffs(net, pytorchcv_dir, f"mixnet_{size}")
    assert max(diffs.values()) <= TOLERANCE, diffs


@needs_torch_peer
def test_relu_squeeze_excite_breaks_parity(pytorchcv_dir):
    """The same tensors in MindCV's structure (ReLU inside squeeze-excite) miss the tolerance: the check has teeth."""
    net = create_model("timm_mixnet_s", se_act="relu")
    load_model_weights(net, convert_imgclsmob_state_dict(read_pdparams(str(pytorchcv_dir / "mixnet_s.pdparams")),
                                                         net, "paddleclas"))
    theirs = np.load(pytorchcv_dir / "mixnet_s_224_logits.npy")
    assert np.abs(_logits(net, np.load(pytorchcv_dir / "input_224.npy")) - theirs).max() > 10 * TOLERANCE


@needs_paddle_peer
@pytest.mark.parametrize("size", sorted(VARIANTS))
def test_converted_paddleclas_weights_give_its_logits(paddleclas_dir, tmp_path, size):
    name = f"MixNet_{size.upper()}"
    ckpt = convert_imgclsmob_checkpoint(str(paddleclas_dir / f"{name}.pdparams"), output=str(tmp_path / "w.ckpt"))
    net = create_model(VARIANTS[size], checkpoint_path=ckpt)
    diffs = _max_diffs(net, paddleclas_dir, name)
    assert max(diffs.values()) <= TOLERANCE, diffs
