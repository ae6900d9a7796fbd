"""resume_opt with ckpt_path (MindCV's way to continue a run): the optimizer state (moments, global step) comes
from the training checkpoint itself, or else from MindCV's optim_<model>.ckpt in ckpt_save_dir, and the next
update equals the one the uninterrupted run makes. PyNative; a small conv-BN-dense network stands for the model
(the optimizer state does not depend on it; create_model's loading of ckpt_path is tested with the models)."""
import os

import numpy as np
import pytest

import mindspore as ms
from mindspore import Tensor, nn

import config
from mindcv.engine import build_train_step, resolve_resume, set_context
from mindcv.engine.build import DataBundle, mindcv_optimizer_file
from mindcv.utils.checkpoint import CheckpointError
from mindcv.utils.cli import ConfigError
from mindcv.utils.distributed import DistInfo

STEPS_PER_EPOCH = 2
NUM_CLASSES = 4
BASE = ["--mode", "1", "--model", "mixnet_s", "--image_resize", "8", "--opt", "momentum", "--lr", "0.05",
        "--momentum", "0.9", "--scheduler", "cosine_decay", "--warmup_epochs", "1", "--epoch_size", "3",
        "--decay_epochs", "2", "--batch_size", "2"]


class _Net(nn.Cell):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.SequentialCell([nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU()])
        self.classifier = nn.Dense(8, NUM_CLASSES)

    def construct(self, x):
        return self.classifier(self.features(x).mean(axis=(2, 3)))


def _parts(tmp_path, *extra):
    args = set_context(config.parse_args(BASE + ["--ckpt_save_dir", str(tmp_path)] + list(extra)))
    ms.set_seed(0)
    model = _Net()
    if args.ckpt_path:  # as create_model(checkpoint_path=...) loads it: the weights, training state ignored
        ms.load_param_into_net(model, ms.load_checkpoint(args.ckpt_path))
    data = DataBundle(None, None, STEPS_PER_EPOCH, NUM_CLASSES, [], False)
    step = build_train_step(args, model, data, DistInfo()).train_step
    step.set_train(True)
    return args, model, step


def _weights(model) -> dict:
    return {p.name: p.asnumpy().copy() for p in model.trainable_params()}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """3 updates of an uninterrupted run, its state saved after update 2 (as train.py saves the train step, and as
    MindCV saves a weights file plus optim_mixnet_s.ckpt), and the weights after update 3."""
    base = tmp_path_factory.mktemp("resume_opt")
    rng = np.random.default_rng(0)
    batches = [(Tensor(rng.standard_normal((2, 3, 8, 8)).astype(np.float32)),
                Tensor(np.array([k % NUM_CLASSES, (k + 1) % NUM_CLASSES], np.int32))) for k in range(3)]
    _, model, step = _parts(base)
    for images, labels in batches[:2]:
        step(images, labels)
    ms.save_checkpoint(step, str(base / "mixnet_s-1_2.ckpt"))  # this project's (and MindCV's) training checkpoint
    mindcv_dir = base / "mindcv_run"
    os.makedirs(mindcv_dir)
    ms.save_checkpoint(model, str(mindcv_dir / "mixnet_s-1_2.ckpt"))  # weights only ...
    ms.save_checkpoint(step.optimizer, str(mindcv_dir / "optim_mixnet_s.ckpt"))  # ... and MindCV's optimizer file
    before = _weights(model)
    step(*batches[2])
    return {"base": base, "mindcv_dir": mindcv_dir, "batches": batches, "before": before, "after": _weights(model)}


def _continue(run, tmp_path, ckpt: str, resume_opt: bool, save_dir: str = ""):
    args, model, step = _parts(save_dir or tmp_path, "--ckpt_path", ckpt, "--resume_opt", str(resume_opt))
    assert all(np.array_equal(v, run["before"][k]) for k, v in _weights(model).items())  # ckpt_path's weights
    point = resolve_resume(args, step, DistInfo(), None, STEPS_PER_EPOCH)
    step(*run["batches"][2])
    return point, _weights(model)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_resume_opt_continues_from_a_training_checkpoint(run, tmp_path):
    point, weights = _continue(run, tmp_path, str(run["base"] / "mixnet_s-1_2.ckpt"), True)
    assert (point.epoch, point.step) == (1, 0)  # global step 2 = one epoch of 2 updates
    assert _same(weights, run["after"])  # momentum buffers and the schedule's position restored
    point, weights = _continue(run, tmp_path, str(run["base"] / "mixnet_s-1_2.ckpt"), False)
    assert (point.epoch, point.step, point.path) == (0, 0, None)  # weights only: a new run from them
    assert not _same(weights, run["after"])


def test_resume_opt_reads_mindcv_optimizer_file(run, tmp_path):
    directory = str(run["mindcv_dir"])
    point, weights = _continue(run, tmp_path, os.path.join(directory, "mixnet_s-1_2.ckpt"), True, directory)
    assert point.path == mindcv_optimizer_file(config.parse_args(["--ckpt_save_dir", directory]))
    assert (point.epoch, point.step) == (1, 0) and _same(weights, run["after"])


def test_no_optimizer_state_is_an_error_naming_both_files(run, tmp_path):
    ckpt = str(run["mindcv_dir"] / "mixnet_s-1_2.ckpt")  # weights only, and no optim file in tmp_path
    args, _, step = _parts(tmp_path, "--ckpt_path", ckpt, "--resume_opt", "True")
    with pytest.raises(CheckpointError) as err:
        resolve_resume(args, step, DistInfo(), None, STEPS_PER_EPOCH)
    message = str(err.value)
    assert "\n" not in message and ckpt in message and os.path.join(str(tmp_path), "optim_mixnet_s.ckpt") in message
    assert "found no state of optimizer 'momentum'" in message and "moments." in message


def test_another_optimizer_state_is_refused(run, tmp_path):
    args, _, step = _parts(tmp_path, "--ckpt_path", str(run["base"] / "mixnet_s-1_2.ckpt"), "--resume_opt", "True",
                           "--opt", "adamw")
    with pytest.raises(CheckpointError, match="found no state of optimizer 'adamw'"):
        resolve_resume(args, step, DistInfo(), None, STEPS_PER_EPOCH)


def test_resume_opt_needs_ckpt_path():
    with pytest.raises(ConfigError, match="resume_opt restores the optimizer state that goes with ckpt_path"):
        config.parse_args(["--resume_opt", "True"])


def test_train_script_continues_in_the_run_folder_and_names_missing_state(tmp_path):
    """train.py passes resume_opt on: a folder holding the run is where MindCV continues (no 'holds another run'
    refusal), and a weights-only checkpoint without optim_mixnet_s.ckpt is a one-line error, nothing written."""
    import subprocess
    import sys

    from mindcv.models import create_model
    from tests.data.folders import write_folder

    data = write_folder(str(tmp_path / "data"), {"train": 2}, classes=["a", "b"])
    run_dir = tmp_path / "run"
    os.makedirs(run_dir)
    ckpt = str(run_dir / "mixnet_s-1_2.ckpt")
    ms.save_checkpoint(create_model("mixnet_s", num_classes=2, mixconv_impl="split"), ckpt)
    before = sorted(os.listdir(run_dir))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "train.py", "--mode", "1", "--dataset", "folder", "--data_dir", data,
                           "--image_resize", "16", "--batch_size", "2", "--num_parallel_workers", "1",
                           "--ckpt_path", ckpt, "--resume_opt", "True", "--ckpt_save_dir", str(run_dir)],
                          cwd=root, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, GLOG_v="3", PYTHONPATH=root))
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("train.py: error: resume_opt: found no state of optimizer 'adam' in " + ckpt)
    assert "optim_mixnet_s.ckpt" in last and sorted(os.listdir(run_dir)) == before
