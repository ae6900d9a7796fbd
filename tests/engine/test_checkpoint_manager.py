"""Training checkpoints: retention policies, best file, index, and finding the latest valid one."""
import os

import numpy as np
import pytest

import mindspore as ms
from mindspore import nn

from mindcv.utils.checkpoint import read_checkpoint_meta
from mindcv.engine.checkpoint_manager import CheckpointManager, find_latest_checkpoint, find_resume_checkpoint


@pytest.fixture()
def cell():
    return nn.Dense(3, 2)


def ckpt_files(directory):
    return sorted(f for f in os.listdir(directory) if f.endswith(".ckpt"))


def test_latest_k_keeps_the_newest_and_writes_metadata(tmp_path, cell):
    manager = CheckpointManager(str(tmp_path), "net", keep_max=2)
    for epoch in range(1, 5):
        manager.save(cell, epoch, epoch * 10, meta={"model_name": "net"})
    assert ckpt_files(tmp_path) == ["net-3_30.ckpt", "net-4_40.ckpt"]
    meta = read_checkpoint_meta(str(tmp_path / "net-4_40.ckpt"))
    assert meta["epoch_num"] == 4 and meta["step_num"] == 40 and meta["model_name"] == "net"


def test_top_k_keeps_the_best_and_the_newest(tmp_path, cell):
    manager = CheckpointManager(str(tmp_path), "net", keep_max=2, policy="top_k")
    for epoch, metric in zip(range(1, 5), [50.0, 90.0, 70.0, 10.0]):
        manager.save(cell, epoch, epoch, metric=metric)
    # the best two are epochs 2 and 3, but the newest (epoch 4) is kept for resuming
    assert ckpt_files(tmp_path) == ["net-2_2.ckpt", "net-4_4.ckpt", "net-best.ckpt"]
    assert read_checkpoint_meta(str(tmp_path / "net-best.ckpt"))["epoch_num"] == 2
    # the index survives a restart
    assert CheckpointManager(str(tmp_path), "net", keep_max=2, policy="top_k").best_metric == 90.0


def test_find_latest_skips_a_corrupt_newest_file(tmp_path, cell):
    manager = CheckpointManager(str(tmp_path), "net", keep_max=5)
    manager.save(cell, 1, 5)
    manager.save(cell, 2, 10)
    with open(tmp_path / "net-3_15.ckpt", "wb") as f:
        f.write(b"not a checkpoint")
    assert find_latest_checkpoint(str(tmp_path), "net") == str(tmp_path / "net-2_10.ckpt")
    assert find_latest_checkpoint(str(tmp_path / "missing"), "net") is None
    assert find_latest_checkpoint(str(tmp_path), "other") is None


def test_saved_weights_round_trip(tmp_path, cell):
    manager = CheckpointManager(str(tmp_path), "net")
    path = manager.save(cell, 1, 1)
    params = ms.load_checkpoint(path)
    np.testing.assert_array_equal(params["weight"].asnumpy(), cell.weight.asnumpy())


def test_bad_policy_is_named(tmp_path):
    with pytest.raises(ValueError, match="ckpt_save_policy"):
        CheckpointManager(str(tmp_path), "net", policy="best")



def _corrupt(path):
    """Flip one byte in the middle of a file (a bad disk block, a bit flip in a copy)."""
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    os.chmod(path, 0o600)  # MindSpore saves checkpoints read-only
    with open(path, "wb") as f:
        f.write(bytes(data))


def test_resume_picks_the_newest_state_epoch_or_recovery(tmp_path, cell):
    manager = CheckpointManager(str(tmp_path), "net", keep_max=3)
    manager.save(cell, 1, 10)
    manager.save_recovery(cell, 1, 4, 14)  # 4 batches into epoch 2
    path, meta = find_resume_checkpoint(str(tmp_path), "net")
    assert path == manager.recovery_path and (meta["epoch_num"], meta["epoch_step"], meta["step_num"]) == (1, 4, 14)
    manager.save(cell, 2, 20)  # the recovery file is now older than the epoch checkpoint
    path, meta = find_resume_checkpoint(str(tmp_path), "net")
    assert path == str(tmp_path / "net-2_20.ckpt") and meta["epoch_num"] == 2
    manager.save_recovery(cell, 2, 10, 20)  # a tie (stopped at the epoch's last batch): the epoch file wins
    assert find_resume_checkpoint(str(tmp_path), "net")[0] == str(tmp_path / "net-2_20.ckpt")
    assert find_resume_checkpoint(str(tmp_path / "missing"), "net") is None


def test_training_checkpoints_carry_a_crc_and_a_corrupted_newest_is_skipped(tmp_path, caplog):
    import logging

    cell = nn.Dense(64, 64)  # big enough that the middle byte is tensor data, not protobuf structure
    manager = CheckpointManager(str(tmp_path), "net", keep_max=3)
    manager.save(cell, 1, 10)
    manager.save(cell, 2, 20)
    manager.save_recovery(cell, 2, 3, 23)
    _corrupt(manager.recovery_path)
    _corrupt(str(tmp_path / "net-2_20.ckpt"))
    # without the CRC MindSpore reads a flipped byte in the tensor data as a valid checkpoint
    assert ms.load_checkpoint(manager.recovery_path)
    pkg = logging.getLogger("mindcv")
    pkg.addHandler(caplog.handler)
    try:
        path, meta = find_resume_checkpoint(str(tmp_path), "net")
    finally:
        pkg.removeHandler(caplog.handler)
    assert path == str(tmp_path / "net-1_10.ckpt") and meta["epoch_num"] == 1
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert f"skipping unreadable checkpoint {manager.recovery_path}" in warned
    assert f"skipping unreadable checkpoint {tmp_path / 'net-2_20.ckpt'}" in warned


def test_remove_recovery(tmp_path, cell):
    manager = CheckpointManager(str(tmp_path), "net")
    manager.save_recovery(cell, 0, 3, 3)
    assert os.path.isfile(manager.recovery_path)
    manager.remove_recovery()
    manager.remove_recovery()  # twice: nothing to remove is fine
    assert not os.path.exists(manager.recovery_path)
