"""Interrupted, killed or crashed-while-saving training resumes exactly (issue 15), on the tiny CPU run.

One uninterrupted reference run; each scenario runs the same command (so MindSpore's compile cache is hit),
is stopped one way or another, is resumed with ``--resume auto`` and must end with the reference's final
weights (dropout is off: its random stream is not part of the saved state). A finished shorter run (one compile
of its own) resumed with the reference's command must end there too.
"""
import csv
import os
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import mindspore as ms

from conftest import DEMO, ROOT, _cache_key, end_processes, processes_mentioning, run_script

# 256 digits, batch 32: 8 steps per epoch, 2 epochs; a recovery checkpoint every 3 steps (3, 6, 9, 12, 15);
# a log line per step so the tests can time their signals. The training loop's state handling does not depend on
# the model: MobileNet-V1 compiles in a third of MixNet-S's time (5 s against 17 s here), which keeps these eight
# runs affordable; tests/e2e/test_train.py and the digits run train MixNet-S itself.
MODEL = "mobilenet_v1"
RUN = ["train.py", "-c", DEMO, "--model", MODEL, "--image_resize", "32", "--batch_size", "32", "--num_samples", "256",
       "--val_while_train", "False", "--drop_rate", "0", "--warmup_epochs", "1", "--decay_epochs", "1",
       "--log_interval", "1", "--epoch_size", "2", "--ckpt_save_steps", "3"]
FINAL = f"{MODEL}-2_16.ckpt"
RECOVERY = f"{MODEL}-recovery.ckpt"


def tensors(path):
    return {k: v.asnumpy() for k, v in ms.load_checkpoint(str(path)).items() if hasattr(v, "asnumpy")}


def assert_same_weights(reference, path):
    a, b = tensors(reference), tensors(path)
    assert set(a) == set(b)
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-4, atol=1e-6, err_msg=name)


class Running:
    """``python train.py ...`` in the background; its stdout+stderr lines collected as they come."""

    def __init__(self, args, env, extra_env=None):
        env = dict(env, **(extra_env or {}))
        env["MS_COMPILER_CACHE_PATH"] = os.path.join(env["MS_COMPILER_CACHE_PATH"], _cache_key(args))
        self.proc = subprocess.Popen([sys.executable] + list(args), env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text, timeout=600):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                time.sleep(0.5)
                if any(text in line for line in self.lines):
                    return
                raise AssertionError(f"exited {self.proc.returncode} before {text!r}:\n" + self.output[-4000:])
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} within {timeout} s:\n" + self.output[-4000:])

    def finish(self, timeout=600):
        rc = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=10)
        return rc

    @property
    def output(self):
        return "\n".join(self.lines)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, script_env):
    out = tmp_path_factory.mktemp("reference")
    result = run_script(RUN + ["--ckpt_save_dir", str(out)], script_env, ROOT)
    files = os.listdir(out)
    assert FINAL in files and RECOVERY not in files, files  # a finished run leaves no recovery file
    assert "recovery checkpoint at epoch 1, step 3/8" in result.stdout
    return out / FINAL


def resume(out, script_env):
    result = run_script(RUN + ["--ckpt_save_dir", str(out), "--resume", "auto"], script_env, ROOT)
    return result.stdout + result.stderr


def test_sigint_then_sigterm_mid_epoch_save_state_and_resume_exactly(tmp_path, script_env, reference):
    out = tmp_path / "run"
    run = Running(RUN + ["--ckpt_save_dir", str(out)], script_env)
    run.wait_for("epoch 1/2 step 4/8")
    run.proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    assert run.finish(timeout=120) == 130, run.output[-4000:]
    assert time.monotonic() - sent < 30
    last = run.output.strip().splitlines()[-1]
    assert last.startswith("train.py: interrupted by SIGINT at epoch 1, step "), run.output[-3000:]
    assert str(out / RECOVERY) in last and "--resume auto" in last
    assert "Traceback" not in run.output
    meta = ms.load_checkpoint(str(out / RECOVERY), crc_check=True)
    stopped_at = int(meta["epoch_step"].asnumpy())
    assert 4 <= stopped_at < 8 and int(meta["epoch_num"].asnumpy()) == 0

    # resumed, then stopped again by SIGTERM (what schedulers send) in the middle of epoch 2
    run = Running(RUN + ["--ckpt_save_dir", str(out), "--resume", "auto"], script_env)
    run.wait_for("epoch 2/2 step 2/8")
    assert f"continuing at epoch 1 after step {stopped_at}" in run.output
    run.proc.send_signal(signal.SIGTERM)
    assert run.finish(timeout=120) == 143, run.output[-4000:]
    assert run.output.strip().splitlines()[-1].startswith("train.py: interrupted by SIGTERM at epoch 2, step ")

    log = resume(out, script_env)
    assert "continuing at epoch 2 after step" in log
    assert_same_weights(reference, out / FINAL)
    assert RECOVERY not in os.listdir(out)


def test_sigkill_after_a_recovery_checkpoint_resumes_exactly(tmp_path, script_env, reference):
    out = tmp_path / "run"
    run = Running(RUN + ["--ckpt_save_dir", str(out)], script_env)
    run.wait_for("recovery checkpoint at epoch 1, step 3/8")
    time.sleep(random.uniform(0.0, 4.0))  # somewhere in the following steps (or saves)
    run.proc.kill()
    assert run.finish(timeout=60) == -signal.SIGKILL
    log = resume(out, script_env)
    assert "resumed from " + str(out) in log
    assert_same_weights(reference, out / FINAL)


def test_kill_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, script_env, reference):
    out = tmp_path / "run"
    # the 2nd checkpoint write (the recovery at step 6) dies half-way through its temporary file
    run = Running(RUN + ["--ckpt_save_dir", str(out)], script_env,
                  {"MINDCV_FAULT_KILL_IN_CKPT_WRITE": "2"})
    assert run.finish() == -signal.SIGKILL, run.output[-4000:]
    files = os.listdir(out)
    partial = [f for f in files if f.startswith("." + RECOVERY) and f.endswith(".tmp.ckpt")]
    assert len(partial) == 1, files  # the half-written file is left where a kill leaves it
    assert int(ms.load_checkpoint(str(out / RECOVERY), crc_check=True)["epoch_step"].asnumpy()) == 3
    log = resume(out, script_env)
    assert f"resumed from {out / RECOVERY}: continuing at epoch 1 after step 3" in log
    assert_same_weights(reference, out / FINAL)


def test_corrupted_newest_checkpoint_is_skipped_with_a_warning(tmp_path, script_env, reference):
    """A recovery file whose bytes changed fails its CRC: resume names it and uses the epoch checkpoint."""
    out = tmp_path / "run"
    run = Running(RUN + ["--ckpt_save_dir", str(out)], script_env)
    run.wait_for("recovery checkpoint at epoch 2, step 1/8")
    run.proc.kill()
    run.finish(timeout=60)
    data = bytearray((out / RECOVERY).read_bytes())
    data[len(data) // 2] ^= 0xFF
    os.chmod(out / RECOVERY, 0o600)
    (out / RECOVERY).write_bytes(bytes(data))
    log = resume(out, script_env)
    assert f"skipping unreadable checkpoint {out / RECOVERY}" in log
    assert f"resumed from {out / (MODEL + '-1_8.ckpt')}: continuing at epoch 2" in log
    assert_same_weights(reference, out / FINAL)


def test_resume_extends_a_finished_shorter_run_exactly(tmp_path, script_env, reference):
    """A finished 1-epoch run resumed with the 2-epoch command ends with the uninterrupted run's weights."""
    out = tmp_path / "run"
    # the 1-epoch run is the reference stopped after epoch 1 (warm-up spans epoch 1, so the learning rates
    # agree); resuming it with epoch_size 2 takes the schedule from the config and the state from the checkpoint
    run_script(RUN + ["--epoch_size", "1", "--ckpt_save_dir", str(out)], script_env, ROOT)
    assert f"{MODEL}-1_8.ckpt" in os.listdir(out) and FINAL not in os.listdir(out)
    log = resume(out, script_env)
    assert "continuing at epoch 2" in log
    assert_same_weights(reference, out / FINAL)
    with open(out / "metrics.csv", newline="") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2]


def test_sigterm_to_msrun_stops_every_rank_with_the_state_saved(tmp_path, script_env):
    """msrun 2.10 does not forward SIGTERM (it dies, its workers run on): the workers notice their launcher is
    gone, agree on the step, rank 0 saves the recovery checkpoint, and both ranks exit with one line."""
    out, logs = tmp_path / "dist", tmp_path / "logs"
    msrun = os.path.join(os.path.dirname(sys.executable), "msrun")
    from conftest import free_port

    cmd = [msrun if os.path.exists(msrun) else "msrun", "--worker_num", "2", "--local_worker_num", "2",
           "--master_port", str(free_port()), "--log_dir", str(logs), "--join", "True"] + RUN + [
        "--distribute", "True", "--ckpt_save_dir", str(out), "--num_parallel_workers", "1"]
    env = {k: v for k, v in script_env.items() if not k.startswith("MS_COMPILER_CACHE")}
    launcher = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 900
        log0 = logs / "worker_0.log"
        while not (log0.exists() and "epoch 1/2 step 2/4" in log0.read_text(errors="replace")):
            assert time.monotonic() < deadline and launcher.poll() is None, \
                log0.read_text(errors="replace")[-3000:] if log0.exists() else "no log"
            time.sleep(0.2)
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=30)
        sent = time.monotonic()
        texts = {}
        while time.monotonic() - sent < 60:
            texts = {r: (logs / f"worker_{r}.log").read_text(errors="replace") for r in (0, 1)}
            if all("train.py: interrupted by SIGTERM" in t for t in texts.values()) and \
                    not processes_mentioning(str(out)):
                break
            time.sleep(0.5)
        assert time.monotonic() - sent < 30, {r: t[-2000:] for r, t in texts.items()}
        assert f"training state saved to {out / RECOVERY}" in texts[0]
        assert "rank 0 saved the training state" in texts[1]
        meta = ms.load_checkpoint(str(out / RECOVERY), crc_check=True)
        assert int(meta["epoch_num"].asnumpy()) == 0 and 2 <= int(meta["epoch_step"].asnumpy()) <= 4
    finally:
        end_processes(launcher, str(tmp_path))  # msrun dies on SIGTERM, leaving its `tail -f` of each worker log
    deadline = time.monotonic() + 20  # SIGKILL is asynchronous: give the kernel time to take them down
    while processes_mentioning(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not processes_mentioning(str(tmp_path))
