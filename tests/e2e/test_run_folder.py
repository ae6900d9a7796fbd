"""A run folder belongs to one run and keeps its history (issue 23 item 5, issue 26): a resumed run is compared with
the run's saved options (changes the saved state depends on are refused in one line, the others logged,
--force_resume for who means it), a finished run resumed says so and touches nothing, an unreadable metrics.csv
is named before anything is written, the folder is locked for the run's life (a dead owner's lock taken over, a
live owner's respected, two runs started at once: exactly one proceeds), outputs get the umask's modes.

The cheapest training there is: mobilenet_v1 on 4 images of 16 px, PyNative mode, one step per epoch. The cases
share one Python process (a driver calling ``train.main(argv)``, what ``python train.py`` runs), except the race,
which needs two processes.
"""
import csv
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, run_script

DRIVER = r'''
import contextlib, hashlib, io, json, logging, os, shutil, sys, traceback
os.umask(0o022)
import train  # the clone's: PYTHONPATH holds its root

spec = json.loads(open(sys.argv[1]).read())
results = {}


def snapshot(folder):
    """name -> (sha256, mtime_ns, mode) of every file in the folder."""
    out = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        data = open(path, "rb").read()
        st = os.stat(path)
        out[name] = [hashlib.sha256(data).hexdigest(), st.st_mtime_ns, st.st_mode & 0o777]
    return out


def run(name, argv, folder):
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    logging.getLogger("mindcv").addHandler(handler)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            rc = train.main(argv)
        except SystemExit as exc:
            rc = exc.code
        except BaseException:
            rc = 1
            err.write(traceback.format_exc())
    logging.getLogger("mindcv").removeHandler(handler)
    results[name] = {"rc": rc, "log": log.getvalue(), "stderr": err.getvalue(), "files": snapshot(folder)}


tiny, run_dir = spec["tiny"], spec["run_dir"]
run("first", tiny + ["--ckpt_save_dir", run_dir], run_dir)
run("finished", tiny + ["--ckpt_save_dir", run_dir, "--resume", "auto"], run_dir)
run("other model", tiny + ["--ckpt_save_dir", run_dir, "--resume", "auto", "--model", "mixnet_s"], run_dir)
run("changed", tiny + ["--ckpt_save_dir", run_dir, "--resume", "auto", "--batch_size", "1", "--image_resize", "24",
                       "--epoch_size", "2"], run_dir)
utf16_dir = run_dir + "_utf16"
shutil.copytree(run_dir, utf16_dir)
text = open(os.path.join(utf16_dir, "metrics.csv"), encoding="utf-8").read()
open(os.path.join(utf16_dir, "metrics.csv"), "w", encoding="utf-16").write(text)
results["utf16 before"] = snapshot(utf16_dir)
run("utf16 metrics", tiny + ["--ckpt_save_dir", utf16_dir, "--resume", "auto", "--epoch_size", "2"], utf16_dir)
run("held", tiny + ["--ckpt_save_dir", spec["held_dir"]], spec["held_dir"])
run("forced", tiny + ["--ckpt_save_dir", run_dir, "--resume", "auto", "--batch_size", "1", "--epoch_size", "2",
                      "--log_interval", "7", "--force_resume", "True"], run_dir)
open(sys.argv[2], "w").write(json.dumps(results))
'''


def image_folder(root):
    """root/train/{a,b}/{0,1}.png, 16 x 16."""
    for label in ("a", "b"):
        os.makedirs(root / "train" / label)
        for i in range(2):
            pixels = np.random.default_rng(i + 7 * (label == "b")).integers(0, 256, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / "train" / label / f"{i}.png")
    return str(root)


def tiny_args(data_dir):
    return ["--model", "mobilenet_v1", "--data_dir", data_dir, "--image_resize", "16", "--batch_size", "2",
            "--epoch_size", "1", "--num_parallel_workers", "1", "--mode", "1", "--warmup_epochs", "0",
            "--num_samples", "2", "--val_while_train", "False", "--log_interval", "1"]


def dead_pid():
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


HOLDER = "import fcntl, json, os, sys, time\n" \
         "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n" \
         "fcntl.flock(fd, fcntl.LOCK_EX)\n" \
         "os.write(fd, json.dumps({'pid': os.getpid(), 'host': 'elsewhere'}).encode())\n" \
         "print('held', flush=True)\n" \
         "time.sleep(600)\n"


@pytest.fixture(scope="module")
def cases(tmp_path_factory, script_env):
    tmp = tmp_path_factory.mktemp("run_folder")
    data = image_folder(tmp / "data")
    run_dir, held_dir = tmp / "run", tmp / "held"
    run_dir.mkdir()
    held_dir.mkdir()
    # a lock file left by a process that died (kill -9, power loss): taken over with a log line
    (run_dir / "run.lock").write_text(json.dumps({"pid": dead_pid(), "host": socket.gethostname()}))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(held_dir / "run.lock")], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        (tmp / "driver.py").write_text(DRIVER)
        spec = {"tiny": tiny_args(data), "run_dir": str(run_dir), "held_dir": str(held_dir)}
        (tmp / "spec.json").write_text(json.dumps(spec))
        run_script([str(tmp / "driver.py"), str(tmp / "spec.json"), str(tmp / "results.json")], script_env, ROOT,
                   timeout=600)
    finally:
        holder.kill()
        holder.wait()
    return json.loads((tmp / "results.json").read_text()), tmp


def one_line_error(result):
    lines = [line for line in result["stderr"].splitlines() if line.strip()]
    assert result["rc"] == 2 and "Traceback" not in result["stderr"], result
    assert len(lines) == 1 and lines[0].startswith("train.py: error: "), result["stderr"]
    return lines[0]


def test_a_dead_owners_lock_is_taken_over_and_outputs_get_the_umask_mode(cases):
    results, tmp = cases
    first = results["first"]
    assert first["rc"] == 0, first
    assert f"taking over {tmp / 'run' / 'run.lock'} left by pid " in first["log"]
    files = first["files"]
    assert "run.lock" not in files  # released (removed) at the end of the run
    assert {"config.yaml", "metrics.csv", "checkpoints.json", "mobilenet_v1-1_1.ckpt"} <= set(files)
    assert {name: mode for name, (_, _, mode) in files.items()} == {name: 0o644 for name in files}


def test_a_finished_run_resumed_says_so_and_touches_nothing(cases):
    results, tmp = cases
    finished = results["finished"]
    assert finished["rc"] == 0 and not finished["stderr"].strip(), finished
    assert (f"the run in {tmp / 'run'} is complete: 1 epochs trained ({tmp / 'run' / 'mobilenet_v1-1_1.ckpt'}), "
            "epoch_size is 1; nothing to do") in finished["log"]
    assert "compiled in" not in finished["log"] and "epoch 1/1" not in finished["log"]
    assert finished["files"] == results["first"]["files"]  # same bytes, same modification times


def test_resuming_with_another_model_is_refused_naming_it(cases):
    results, _ = cases
    line = one_line_error(results["other model"])
    assert "model mobilenet_v1 in the run, mixnet_s now" in line and "--force_resume" in line
    assert results["other model"]["files"] == results["first"]["files"]


def test_every_change_the_state_depends_on_is_listed_and_nothing_rewritten(cases):
    results, tmp = cases
    changed = results["changed"]
    line = one_line_error(changed)
    assert "batch_size 2 in the run, 1 now" in line and "image_resize 16 in the run, 24 now" in line
    assert str(tmp / "run" / "config.yaml") in line
    assert "epoch_size" not in line  # may change: logged, not refused
    assert "resume: epoch_size 1 -> 2 (may change when resuming)" in changed["log"]
    assert changed["files"] == results["first"]["files"]


def test_a_metrics_file_in_utf16_is_named_and_nothing_rewritten(cases):
    results, tmp = cases
    line = one_line_error(results["utf16 metrics"])
    assert f"{tmp / 'run_utf16' / 'metrics.csv'}: not UTF-8 text" in line
    assert results["utf16 metrics"]["files"] == results["utf16 before"]


def test_a_folder_held_by_a_live_run_is_refused_before_anything_is_built(cases):
    results, tmp = cases
    held = results["held"]
    line = one_line_error(held)
    assert f"ckpt_save_dir {tmp / 'held'} is in use by another training run (pid " in line
    assert "on host elsewhere" in line
    assert "rank 0 of 1" not in held["log"]  # refused before MindSpore's context was set
    assert sorted(held["files"]) == ["run.lock"]


def test_force_resume_resumes_with_the_differences_logged_and_the_config_never_holds_resume(cases):
    results, tmp = cases
    forced = results["forced"]
    assert forced["rc"] == 0, forced
    assert "force_resume: resuming the run of" in forced["log"] and "batch_size 2 in the run, 1 now" in forced["log"]
    assert "resume: log_interval 1 -> 7 (may change when resuming)" in forced["log"]
    assert "continuing at epoch 2" in forced["log"]
    config = (tmp / "run" / "config.yaml").read_text()
    assert "\nresume: ''\n" in config and "\nforce_resume: false\n" in config and "\nbatch_size: 1\n" in config
    with open(tmp / "run" / "metrics.csv", newline="") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["1", "2"]


def test_two_runs_started_at_once_into_one_new_folder_exactly_one_proceeds(tmp_path, script_env):
    data = image_folder(tmp_path / "data")
    out = tmp_path / "race"
    env = dict(script_env)
    env.pop("MS_COMPILER_CACHE_PATH", None)
    env.pop("MS_COMPILER_CACHE_ENABLE", None)
    command = [sys.executable, "train.py"] + tiny_args(data) + ["--ckpt_save_dir", str(out)]
    procs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], outputs
    loser = outputs[[p.returncode for p in procs].index(2)][1]
    lines = [line for line in loser.splitlines() if line.startswith("train.py: ")]
    assert len(lines) == 1 and "Traceback" not in loser, loser
    assert "is in use by another training run" in lines[0] or "holds another run" in lines[0], lines[0]
    with open(out / "metrics.csv", newline="") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["1"]
    assert "run.lock" not in os.listdir(out)
