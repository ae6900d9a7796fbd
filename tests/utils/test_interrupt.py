"""StopRequest: the first SIGINT/SIGTERM during training is recorded (the loop saves and exits 130/143), a second
one ends the process at once, and one before training starts ends it at once. Real signals, real processes."""
import os
import signal
import subprocess
import sys
import time

import pytest

from mindcv.utils.interrupt import StopRequest, TrainingInterrupted, exit_status

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHILD = r'''
import os, signal, sys, time
from mindcv.utils.interrupt import StopRequest
stop = StopRequest().install()
import numpy  # a thread pool started after install inherits the blocked mask
stop.training = sys.argv[2] == "training"
print("READY", flush=True)
deadline = time.time() + 20
while time.time() < deadline:
    if stop.requested:
        print("REQUESTED", stop.signum, flush=True)
        time.sleep(float(sys.argv[3]))
        sys.exit(0)
    time.sleep(0.01)
sys.exit(5)
'''


def _child(state: str, linger: float):
    proc = subprocess.Popen([sys.executable, "-c", CHILD, ROOT, state, str(linger)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)  # cwd first on the path: this clone
    assert proc.stdout.readline().strip() == "READY"
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_first_signal_is_recorded_not_fatal(sig):
    proc = _child("training", 0.0)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and f"REQUESTED {int(sig)}" in out
    assert "stopping after the current step" in err


def test_second_signal_stops_at_once():
    proc = _child("training", 30.0)  # the "loop" would take 30 s to stop
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and time.monotonic() - start < 5
    assert "SIGINT again: stopping at once" in err


def test_signal_before_training_stops_at_once():
    proc = _child("setup", 0.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 143 and "before training started" in err


def test_exit_status_and_message():
    assert exit_status(signal.SIGINT) == 130 and exit_status(signal.SIGTERM) == 143
    err = TrainingInterrupted(signal.SIGINT, "/x/m-recovery.ckpt", "at epoch 2, step 5/8")
    assert str(err) == "interrupted by SIGINT at epoch 2, step 5/8" and err.checkpoint == "/x/m-recovery.ckpt"


def test_install_outside_the_main_thread_does_nothing():
    import threading

    stop = StopRequest()
    worker = threading.Thread(target=stop.install)
    worker.start()
    worker.join()
    assert not stop._installed
