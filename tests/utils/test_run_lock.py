"""The run folder's lock (mindcv/utils/run_lock.py): held for the owner's life, its pid and host recorded, a dead
owner's lock taken over with a log line, and without flock (some network file systems) a live owner of this host
still respected."""
import errno
import json
import os
import socket
import subprocess

import pytest

from mindcv.utils import run_lock
from mindcv.utils.run_lock import LOCK_FILE, RunFolderInUse, RunLock, lock_owner


def dead_pid():
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_held_for_life_then_released(tmp_path):
    lock = RunLock(str(tmp_path / "run")).acquire()
    record = json.loads((tmp_path / "run" / LOCK_FILE).read_text())
    assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
    owner = lock_owner(str(tmp_path / "run"))
    assert owner.startswith(f"pid {os.getpid()} on host {socket.gethostname()}, since ")
    with pytest.raises(RunFolderInUse, match=f"is in use by another training run \\(pid {os.getpid()} "):
        RunLock(str(tmp_path / "run")).acquire()  # another open file description: flock refuses it
    lock.release()
    assert not (tmp_path / "run" / LOCK_FILE).exists() and lock_owner(str(tmp_path / "run")) is None
    with RunLock(str(tmp_path / "run")):
        pass


def test_a_dead_owners_lock_is_taken_over_with_a_log_line(tmp_path, caplog):
    stale = {"pid": dead_pid(), "host": socket.gethostname()}
    (tmp_path / LOCK_FILE).write_text(json.dumps(stale))
    assert lock_owner(str(tmp_path)) is None
    with caplog.at_level("INFO", logger="mindcv"), RunLock(str(tmp_path)):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert f"left by pid {stale['pid']} on host {stale['host']}, which no longer runs" in caplog.text


def test_without_flock_a_live_owner_of_this_host_is_respected(tmp_path, monkeypatch):
    def no_flock(fd, operation):
        raise OSError(errno.ENOLCK, "no locks available")

    monkeypatch.setattr(run_lock.fcntl, "flock", no_flock)
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname()}))
    assert lock_owner(str(tmp_path)).startswith(f"pid {os.getppid()} on host ")
    with pytest.raises(RunFolderInUse, match=f"pid {os.getppid()}"):
        RunLock(str(tmp_path)).acquire()
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": dead_pid(), "host": socket.gethostname()}))
    with RunLock(str(tmp_path)):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
