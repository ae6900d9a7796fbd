"""End-to-end fixtures: run the real scripts in subprocesses on the embedded digits data.

Graph compilation dominates the cost of these tests (~25 s per mixnet_s train graph on 2 cores), so runs of
the same command share a MindSpore compile cache and a repeat loads its graphs in seconds. The cache
is keyed by the whole command but the output and resume paths: MindSpore's cache does not notice
another batch size or schedule length and would run a stale graph.
"""
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys

import pytest

from processes import processes_mentioning  # noqa: F401 (the e2e tests import it from here)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "configs", "mixnet", "mixnet_s_demo.yaml")


@pytest.fixture(scope="session")
def script_env(tmp_path_factory):
    """Environment for the scripts: quiet MindSpore, a session compile cache, a private digits cache."""
    env = dict(os.environ)
    env["GLOG_v"] = "3"
    env["MS_COMPILER_CACHE_ENABLE"] = "1"
    env["MS_COMPILER_CACHE_PATH"] = str(tmp_path_factory.mktemp("ms_compile_cache"))
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    bin_dir = os.path.dirname(sys.executable)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")  # msrun runs `python` from PATH
    return env


_PATH_OPTIONS = ("--ckpt_save_dir", "--resume", "--results_json", "--export_file", "--output")


def _cache_key(args) -> str:
    """The command without its output/resume paths: runs with equal keys compile identical graphs."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in _PATH_OPTIONS:
            skip = True
        else:
            kept.append(str(arg))
    return hashlib.sha256("\0".join(kept).encode()).hexdigest()[:16]


def run_script(args, env, cwd, timeout=900, check=True):
    """Run ``python <args>`` and return the CompletedProcess; on failure show the output's tail."""
    env = dict(env)
    if "MS_COMPILER_CACHE_PATH" in env:
        env["MS_COMPILER_CACHE_PATH"] = os.path.join(env["MS_COMPILER_CACHE_PATH"], _cache_key(args))
    result = subprocess.run([sys.executable] + list(args), env=env, cwd=cwd, capture_output=True, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {result.returncode}\nstdout:\n{result.stdout[-4000:]}\n"
                             f"stderr:\n{result.stderr[-4000:]}")
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# A short digits run: 32x32 inputs (the PNGs' own size), 3 epochs, validation every epoch. Batch 32, half the
# recipe's: 44 steps per epoch, 132 in all, more steps than 4 epochs of 64 (88) in less time (~70 s, not ~80 s);
# measured val top-1 9.6-10.2, 50.0-63.2, 83.0-87.1 % in three runs (3 epochs of 64 ended at 22 %, 4 at 82.4 %).
DIGITS_RUN_ARGS = ["--image_resize", "32", "--batch_size", "32", "--epoch_size", "3", "--warmup_epochs", "1",
                   "--decay_epochs", "2", "--keep_checkpoint_max", "2", "--log_interval", "5"]


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory, script_env):
    """Train mixnet_s on the digits demo recipe briefly; returns the run directory.

    Once per session, also under pytest-xdist (scripts/test.sh, ``--dist loadfile``): its users sit in three
    modules, which may go to different workers; the first worker to need the run trains it in the folder the
    workers share, the others wait for it on a lock."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # this session's folder, holding one temporary folder per worker
    run_dir = base / "digits_run"
    with open(base / "digits_run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (run_dir / "stdout.log").exists():  # written last, when the run has succeeded
            shutil.rmtree(run_dir, ignore_errors=True)  # what a failed attempt left
            result = run_script(["train.py", "-c", DEMO, "--ckpt_save_dir", str(run_dir)] + DIGITS_RUN_ARGS,
                                script_env, ROOT)
            (run_dir / "stdout.log").write_text(result.stdout)
    return run_dir


def end_processes(launcher: subprocess.Popen, marker: str) -> list:
    """Kill what a launcher started (its process group, started with start_new_session=True, and any process
    whose command line mentions ``marker``); return the pids that were still running before the kill."""
    survivors = processes_mentioning(marker)
    try:
        os.killpg(launcher.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for pid in processes_mentioning(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    launcher.wait(timeout=30)
    return survivors
