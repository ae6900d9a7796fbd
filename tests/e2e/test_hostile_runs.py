"""Hostile and unlucky inputs to the scripts end in one line with nothing lost (issue 23 item 5, issue 26).

The run folder belongs to one run and keeps its history: a resumed run is compared with the run's saved options
(changes the saved state depends on are refused in one line, the others logged, --force_resume for who means
it), a finished run resumed says so and touches nothing, an unreadable metrics.csv is named before anything is
written, the folder is locked for the run's life (a dead owner's lock taken over, a live owner's respected, two
runs started at once: exactly one proceeds), outputs get the umask's modes. Images: a symlink loop in a class
folder is not followed, a decompression bomb is refused from its header and a device linked as an image is not
read, in training, validation and infer.py alike.

The cheapest training there is: mobilenet_v1 on 4 images of 16 px, PyNative mode, one step per epoch. The cases
share one Python process (a driver calling each script's ``main(argv)``, what ``python <script>`` runs), except
the race, which needs two processes.
"""
import csv
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, run_script
from disk_faults import small_tmpfs

DRIVER = r'''
import contextlib, hashlib, importlib, io, json, logging, os, shutil, sys, traceback
os.umask(0o022)

spec = json.loads(open(sys.argv[1]).read())
results = {}


def snapshot(folder):
    # name -> (sha256, mtime_ns, mode) of every file in the folder
    out = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        data = open(path, "rb").read()
        st = os.stat(path)
        out[name] = [hashlib.sha256(data).hexdigest(), st.st_mtime_ns, st.st_mode & 0o777]
    return out


def run(name, script, argv, folder=None):
    log, out, err = io.StringIO(), io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(log)
    logging.getLogger("mindcv").addHandler(handler)
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            rc = importlib.import_module(script).main(argv)  # the clone's scripts: PYTHONPATH holds its root
        except SystemExit as exc:
            rc = exc.code
        except BaseException:
            rc = 1
            err.write(traceback.format_exc())
    logging.getLogger("mindcv").removeHandler(handler)
    results[name] = {"rc": rc, "log": log.getvalue(), "stdout": out.getvalue(), "stderr": err.getvalue(),
                     "files": snapshot(folder) if folder else {}}


tiny, run_dir = spec["tiny"], spec["run_dir"]
run("first", "train", tiny + ["--ckpt_save_dir", run_dir], run_dir)
run("finished", "train", tiny + ["--ckpt_save_dir", run_dir, "--resume", "auto"], run_dir)
run("other model", "train", tiny + ["--ckpt_save_dir", run_dir, "--resume", "auto", "--model", "mixnet_s"], run_dir)
run("changed", "train", tiny + ["--ckpt_save_dir", run_dir, "--resume", "auto", "--batch_size", "3",
                                "--image_resize", "24", "--epoch_size", "2"], run_dir)
utf16_dir = run_dir + "_utf16"
shutil.copytree(run_dir, utf16_dir)
text = open(os.path.join(utf16_dir, "metrics.csv"), encoding="utf-8").read()
open(os.path.join(utf16_dir, "metrics.csv"), "w", encoding="utf-16").write(text)
results["utf16 before"] = snapshot(utf16_dir)
run("utf16 metrics", "train", tiny + ["--ckpt_save_dir", utf16_dir, "--resume", "auto", "--epoch_size", "2"],
    utf16_dir)
run("held", "train", tiny + ["--ckpt_save_dir", spec["held_dir"]], spec["held_dir"])
checkpoint = os.path.join(utf16_dir, "mobilenet_v1-1_1.ckpt")
run("validate", "validate", tiny + ["--ckpt_path", checkpoint, "--results_json", spec["results_json"]])
run("infer", "infer", tiny + ["--ckpt_path", checkpoint, spec["images"]])
if spec["simulate_full_disk"]:  # no tmpfs here: the second checkpoint's write fails as on a full disk
    sys.path.insert(0, spec["tests_dir"])
    from disk_faults import enospc_after
    from mindspore.train import serialization
    serialization._ckpt_fs.create = enospc_after(1 << 20, names="-2_2.ckpt")
run("disk full", "train", tiny + ["--ckpt_save_dir", spec["full_dir"], "--epoch_size", "2"], spec["full_dir"])
run("forced", "train", tiny + ["--ckpt_save_dir", run_dir, "--resume", "auto", "--batch_size", "3", "--epoch_size",
                               "2", "--log_interval", "7", "--force_resume", "True"], run_dir)
open(sys.argv[2], "w").write(json.dumps(results))
'''

BOMB_SIDE = 2000  # 4 megapixels in a 4 KB PNG, above the tests' --max_image_pixels 1000000
MAX_PIXELS = "1000000"


def png_bomb(path, side=BOMB_SIDE):
    # a valid grayscale PNG of side x side zero pixels: its IDAT inflates 1000-fold
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    raw = zlib.compress(b"\0" * ((side + 1) * side), 9)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    return str(path)


def image_folder(root, splits=("train",), hostile=True):
    # root/<split>/{a,b}/{0,1}.png, 16 x 16; with ``hostile``, train/a also holds a bomb, /dev/zero linked as an
    # image and a symlink loop, val/b a bomb
    for split in splits:
        for label in ("a", "b"):
            os.makedirs(root / split / label)
            for i in range(2):
                pixels = np.random.default_rng(i + 7 * (label == "b")).integers(0, 256, (16, 16, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / label / f"{i}.png")
    if hostile:
        png_bomb(root / "train" / "a" / "bomb.png")
        os.symlink("/dev/zero", root / "train" / "a" / "zero.png")
        os.symlink(".", root / "train" / "a" / "loop")
        png_bomb(root / "val" / "b" / "bomb.png")
    return str(root)


def tiny_args(data_dir, batch=6):
    # 6 training files (4 images, the bomb, /dev/zero): one step of 6 reads every one of them
    return ["--model", "mobilenet_v1", "--data_dir", data_dir, "--image_resize", "16", "--batch_size", str(batch),
            "--epoch_size", "1", "--num_parallel_workers", "1", "--mode", "1", "--warmup_epochs", "0",
            "--val_while_train", "False", "--log_interval", "1", "--max_image_pixels", MAX_PIXELS]


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
    tmp = tmp_path_factory.mktemp("hostile")
    data = image_folder(tmp / "data", ("train", "val"))
    images = tmp / "images"
    images.mkdir()
    for name in ("0.png", "1.png"):
        shutil.copy(tmp / "data" / "val" / "a" / name, images / name)
    png_bomb(images / "bomb.png")
    os.symlink("/dev/zero", images / "zero.png")
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
        # 60 MB: the first checkpoint (38.6 MB: weights and Adam's moments) fits, the second does not
        with small_tmpfs(tmp / "disk", 60 << 10) as disk:
            spec = {"tiny": tiny_args(data), "run_dir": str(run_dir), "held_dir": str(held_dir),
                    "images": str(images), "results_json": str(tmp / "validate.json"),
                    "full_dir": str(tmp / "disk" / "run"), "simulate_full_disk": disk is None,
                    "tests_dir": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
            (tmp / "spec.json").write_text(json.dumps(spec))
            # no compile cache: with it, a later error line of a run that compiled went to the process's stderr,
            # past the driver's capture of sys.stderr (seen with MindSpore 2.10); PyNative runs gain nothing from it
            env = {k: v for k, v in script_env.items() if not k.startswith("MS_COMPILER_CACHE")}
            run_script([str(tmp / "driver.py"), str(tmp / "spec.json"), str(tmp / "results.json")], env, ROOT,
                       timeout=600)
            results = json.loads((tmp / "results.json").read_text())
            results["disk full"]["first checkpoint"] = _loads(tmp / "disk" / "run" / "mobilenet_v1-1_1.ckpt")
    finally:
        holder.kill()
        holder.wait()
    return results, tmp


def _loads(path):
    """True when a checkpoint loads with its CRC checked."""
    import mindspore as ms

    return bool(ms.load_checkpoint(str(path), crc_check=True))


def one_line_error(result, prog="train.py"):
    lines = [line for line in result["stderr"].splitlines() if line.strip()]
    assert result["rc"] == 2 and "Traceback" not in result["stderr"], result
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), result["stderr"]
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
    assert "batch_size 6 in the run, 3 now" in line and "image_resize 16 in the run, 24 now" in line
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
    assert "force_resume: resuming the run of" in forced["log"] and "batch_size 6 in the run, 3 now" in forced["log"]
    assert "resume: log_interval 1 -> 7 (may change when resuming)" in forced["log"]
    assert "continuing at epoch 2" in forced["log"]
    config = (tmp / "run" / "config.yaml").read_text()
    assert "\nresume: ''\n" in config and "\nforce_resume: false\n" in config and "\nbatch_size: 3\n" in config
    with open(tmp / "run" / "metrics.csv", newline="") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["1", "2"]


def test_a_full_disk_stops_the_run_in_one_line_leaving_no_temporary_file(cases):
    results, tmp = cases
    full = results["disk full"]
    line = one_line_error(full)
    second = tmp / "disk" / "run" / "mobilenet_v1-2_2.ckpt"
    assert line.startswith(f"train.py: error: cannot write the checkpoint {second}: No space left on device")
    assert not [name for name in full["files"] if name.startswith(".")]  # no hidden .<name>.*.tmp.tmp left
    assert "mobilenet_v1-1_1.ckpt" in full["files"] and full["first checkpoint"]  # the previous one intact
    assert "run.lock" not in full["files"]  # released on this exit too


def test_training_counts_each_file_once_and_skips_the_bomb_and_the_device_unread(cases):
    results, tmp = cases
    log = results["first"]["log"]
    assert "training: 6 images, 2 classes" in log  # a/loop -> . is not followed (it made 336 of 16)
    bomb, zero = tmp / "data" / "train" / "a" / "bomb.png", tmp / "data" / "train" / "a" / "zero.png"
    assert f"skipping bad image file '{bomb}': declared size 2000x2000 (4,000,000 pixels) is above the limit of " \
           "1,000,000 pixels" in log
    assert f"skipping bad image file '{zero}': not a regular file" in log


def test_validation_names_the_bomb_it_did_not_decode(cases):
    results, tmp = cases
    line = one_line_error(results["validate"], "validate.py")
    assert f"{tmp / 'data' / 'val' / 'b' / 'bomb.png'}: declared size 2000x2000" in line
    assert not (tmp / "validate.json").exists()


def test_infer_names_the_bomb_and_the_device_and_classifies_the_rest(cases):
    results, tmp = cases
    infer = results["infer"]
    assert infer["rc"] == 1 and "Traceback" not in infer["stderr"], infer
    errors = [line for line in infer["stderr"].splitlines() if line.startswith("infer.py: error: ")]
    assert errors == [f"infer.py: error: {tmp / 'images' / 'bomb.png'}: declared size 2000x2000 (4,000,000 pixels) "
                      "is above the limit of 1,000,000 pixels (a decompression bomb?); not decoded. Raise "
                      "max_image_pixels to read it",
                      f"infer.py: error: {tmp / 'images' / 'zero.png'}: not a regular file (a device, FIFO or "
                      "socket); only regular files are read",
                      "infer.py: error: 2 of 4 image(s) could not be classified"]
    classified = [line for line in infer["stdout"].splitlines() if line.startswith(str(tmp))]
    assert classified == [str(tmp / "images" / "0.png"), str(tmp / "images" / "1.png")]


def test_two_runs_started_at_once_into_one_new_folder_exactly_one_proceeds(tmp_path, script_env):
    data = image_folder(tmp_path / "data", hostile=False)
    out = tmp_path / "race"
    env = dict(script_env)
    env.pop("MS_COMPILER_CACHE_PATH", None)
    env.pop("MS_COMPILER_CACHE_ENABLE", None)
    command = [sys.executable, "train.py"] + tiny_args(data, batch=4) + ["--ckpt_save_dir", str(out)]
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
