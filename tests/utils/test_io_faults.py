"""Outputs on a shared machine and a full disk (issue 23 item 6, issue 26): files get the modes the user's umask
gives, still written atomically; a write that fails (disk full) leaves no temporary file and the previous file
intact. The full disk is a small tmpfs where this machine lets the test mount one, else ENOSPC is raised at
MindSpore's write call."""
import contextlib
import os
import stat

import pytest
from disk_faults import enospc_after, small_tmpfs

from mindspore import nn

from mindcv.utils import checkpoint as ckpt
from mindcv.utils.io import atomic_write_text


@contextlib.contextmanager
def umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_outputs_get_the_umask_mode(tmp_path, mask, expected):
    with umask(mask):
        text = atomic_write_text(str(tmp_path / "config.yaml"), "a: 1\n")
        saved = ckpt.save_checkpoint_atomic(nn.Dense(2, 2), str(tmp_path / "m-1_1.ckpt"), crc_check=True)
        again = ckpt.save_checkpoint_atomic(nn.Dense(2, 2), saved)  # the owner can replace his checkpoint
    assert mode(text) == expected and mode(saved) == expected and mode(again) == expected
    assert sorted(os.listdir(tmp_path)) == ["config.yaml", "m-1_1.ckpt"]  # no temporary file left


def test_a_full_disk_leaves_the_previous_checkpoint_and_no_temporary_file(tmp_path, monkeypatch):
    with small_tmpfs(tmp_path / "disk", 256) as disk:
        folder = disk or tmp_path / "disk"
        previous = ckpt.save_checkpoint_atomic(nn.Dense(4, 4), str(folder / "m-1_1.ckpt"), crc_check=True)
        before = open(previous, "rb").read()
        big = nn.Dense(256, 256)  # 257 KB of weights: more than the disk holds
        if disk is None:
            monkeypatch.setattr(ckpt.ms.train.serialization._ckpt_fs, "create", enospc_after(64 << 10))
        with pytest.raises(ckpt.CheckpointError, match="No space left on device") as err:
            ckpt.save_checkpoint_atomic(big, str(folder / "m-2_2.ckpt"), crc_check=True)
        assert "m-2_2.ckpt" in str(err.value) and "\n" not in str(err.value)
        assert os.listdir(folder) == ["m-1_1.ckpt"]  # no hidden .m-2_2.ckpt.*.tmp.tmp left behind
        assert open(previous, "rb").read() == before
        ckpt.load_param_dict(previous)  # still loads (CRC checked)


def test_the_digits_folder_gets_the_umask_mode(tmp_path, monkeypatch):
    from mindcv.data import digits

    def one_folder(root):  # the tree's content does not matter here: 1797 PNGs take seconds
        os.makedirs(os.path.join(root, "train"))
        return {}

    monkeypatch.setattr(digits, "_write_tree", one_folder)
    with umask(0o022):
        root = digits.prepare_digits(str(tmp_path / "digits"), quiet=True)
    assert mode(root) == 0o755  # not mkdtemp's private 0700
