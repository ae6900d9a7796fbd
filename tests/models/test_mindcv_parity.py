"""Checkpoints saved by the real MindCV 0.3.0 load into our models with no missing or unexpected
parameter and give the same logits.

MindCV runs in a subprocess from a directory outside our package path (``.ci/run`` installs it
with ``pip install --no-deps --target``; the directory is passed in ``MINDCV_PEER_PATH``), since its
package name is also ``mindcv``.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import mindspore as ms

from mindcv.models import create_model

HERE = os.path.dirname(os.path.abspath(__file__))
DUMP = os.path.join(os.path.dirname(HERE), "peers", "mindcv_dump.py")
PEER = os.environ.get("MINDCV_PEER_PATH", os.path.expanduser("~/.cache/mixnet-ms/peers/mindcv-0.3.0"))

pytestmark = pytest.mark.skipif(
    not os.path.isfile(os.path.join(PEER, "mindcv", "models", "mixnet.py")),
    reason=f"MindCV 0.3.0 peer not installed at {PEER} (set MINDCV_PEER_PATH; .ci/run installs it)",
)


def run_peer(model: str, out_dir: str, size: int, num_classes: int) -> None:
    env = dict(os.environ, PYTHONPATH=PEER, GLOG_v="3")
    result = subprocess.run([sys.executable, DUMP, model, out_dir, str(size), str(num_classes)],
                            env=env, capture_output=True, text=True, timeout=600, cwd=out_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "peer:" in result.stdout and PEER in result.stdout  # it really ran MindCV, not us


@pytest.mark.parametrize("model,size,num_classes", [("mixnet_s", 64, 1000), ("mixnet_m", 48, 10),
                                                    ("mixnet_l", 48, 10)])
def test_mindcv_checkpoint_loads_and_gives_same_logits(tmp_path, model, size, num_classes):
    run_peer(model, str(tmp_path), size, num_classes)
    ms.set_context(mode=ms.PYNATIVE_MODE)
    params = ms.load_checkpoint(str(tmp_path / "peer.ckpt"))
    x = np.load(tmp_path / "input.npy")
    theirs = np.load(tmp_path / "logits.npy")
    for impl in ("split", "auto"):  # MindCV's own form, and what runs by default here (native on CPU)
        net = create_model(model, num_classes=num_classes, mixconv_impl=impl)
        not_loaded, unexpected = ms.load_param_into_net(net, params)
        assert not_loaded == [] and unexpected == []
        assert {p.name for p in net.get_parameters()} == set(params)
        net.set_train(False)
        ours = net(ms.Tensor(x)).asnumpy()
        assert ours.shape == theirs.shape
        if impl == "split":  # the same graph as MindCV's: the same numbers
            np.testing.assert_array_equal(ours, theirs)
        else:
            assert np.abs(ours - theirs).max() <= 1e-5 * max(1.0, float(np.abs(theirs).max())), impl
