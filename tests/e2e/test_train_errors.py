"""Every user error of train.py ends in one line ``train.py: error: <message>`` naming the input, exit status 2,
no traceback, and nothing written to ckpt_save_dir (it is created only once data, model and weights are checked).

The cases fail before any graph compiles, so they share one Python process: a driver calls ``train.main(argv)``
(what ``python train.py`` runs) once per case and records the exit status and stderr. Two cases also run as real
``python train.py`` subprocesses, MindSpore's start-up noise included.
"""
import json
import os
import socket

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, run_script

BASE = ["--dataset", "imagenet", "--image_resize", "32", "--batch_size", "2", "--epoch_size", "1",
        "--val_while_train", "True", "--num_parallel_workers", "1", "--mode", "0"]

DRIVER = r'''
import contextlib, io, json, sys, traceback
import train  # the clone's: PYTHONPATH holds its root
results = {}
for name, argv in json.loads(open(sys.argv[2]).read()).items():
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            rc = train.main(argv)
        except SystemExit as exc:
            rc = exc.code
        except BaseException:
            rc = 1
            err.write(traceback.format_exc())
    results[name] = {"rc": rc, "stderr": err.getvalue()}
open(sys.argv[3], "w").write(json.dumps(results))
'''


def _image(path: str, seed: int) -> None:
    pixels = np.random.default_rng(seed).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(pixels).save(path, "JPEG")


def _tree(root, layout) -> str:
    """root/<split>/<class>/img_<i>.jpg for {split: {class: count}}."""
    for split, classes in layout.items():
        for name, count in classes.items():
            os.makedirs(os.path.join(root, split, name), exist_ok=True)
            for i in range(count):
                _image(os.path.join(root, split, name, f"img_{i}.jpg"), hash((split, name, i)) % 1000)
    return str(root)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """{case: (argv, text the message must contain, ckpt_save_dir)} and the environment to run them in."""
    import mindspore as ms
    from mindspore import nn

    tmp = tmp_path_factory.mktemp("train_errors")
    good = _tree(tmp / "good", {"train": {"cat": 2, "dog": 2}, "val": {"cat": 1, "dog": 1}})
    empty = _tree(tmp / "empty", {"train": {"dog": 2}})
    os.makedirs(tmp / "empty" / "train" / "cat")
    no_train = _tree(tmp / "no_train", {"val": {"cat": 1}})
    val_extra = _tree(tmp / "val_extra", {"train": {"cat": 2, "dog": 2}, "val": {"cat": 1, "wolf": 1}})
    a_file = tmp / "a_file"
    a_file.write_text("not a folder")
    other = tmp / "other_model.ckpt"
    ms.save_checkpoint(nn.Dense(64, 64), str(other))
    truncated = tmp / "truncated.ckpt"
    data = other.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    table = {
        "missing data_dir": (["--data_dir", str(tmp / "nowhere")], str(tmp / "nowhere")),
        "file as data_dir": (["--data_dir", str(a_file)], str(a_file)),
        "empty class folder": (["--data_dir", empty], os.path.join(empty, "train", "cat")),
        "missing train split": (["--data_dir", no_train], os.path.join(no_train, "train")),
        "val class train lacks": (["--data_dir", val_extra], "wolf"),
        "unknown model": (["--data_dir", good, "--model", "mixnet_q"], "mixnet_q"),
        # refused before any data is read: the data_dir that does not exist is not what the message names
        "unknown model before the data": (["--data_dir", str(tmp / "nowhere"), "--model", "mixnet_q"], "mixnet_q"),
        "bad auto_augment": (["--data_dir", good, "--auto_augment", "randaug-q9"], "randaug-q9"),
        "checkpoint of another model": (["--data_dir", good, "--ckpt_path", str(other)], str(other)),
        "truncated checkpoint": (["--data_dir", good, "--ckpt_path", str(truncated)], str(truncated)),
        "directory as checkpoint": (["--data_dir", good, "--ckpt_path", str(tmp)], str(tmp)),
        "pretrained without network": (["--data_dir", good, "--pretrained", "True"], "mixnet_s-2a5ef3a3.ckpt"),
        "file-valued ckpt_save_dir": (["--data_dir", good, "--ckpt_save_dir", str(a_file / "out")], str(a_file)),
        "unwritable ckpt_save_dir": (["--data_dir", good, "--ckpt_save_dir", "/proc/mindcv_out"], "/proc"),
        "directory as config": (["--data_dir", good, "-c", str(tmp)], "is a directory"),
    }
    if os.geteuid() != 0:  # root writes into read-only-mode folders: /proc above stands for it
        read_only = tmp / "read_only"
        read_only.mkdir()
        read_only.chmod(0o555)
        table["read-only ckpt_save_dir"] = (["--data_dir", good, "--ckpt_save_dir", str(read_only / "out")],
                                            str(read_only))
    out = {}
    for name, (extra, named) in table.items():
        save_dir = str(tmp / ("out_" + name.replace(" ", "_")))
        if "--ckpt_save_dir" in extra:  # the last value given wins
            save_dir = extra[extra.index("--ckpt_save_dir") + 1]
        out[name] = (BASE + ["--ckpt_save_dir", save_dir] + extra, named, save_dir)
    return out, tmp


@pytest.fixture(scope="module")
def error_env(script_env, cases):
    _, tmp = cases
    env = dict(script_env)
    env["MINDCV_MIRROR"] = f"http://127.0.0.1:{_free_port()}/"  # nothing listens there: no network
    env["MINDCV_HOME"] = str(tmp / "home")
    env.pop("MINDCV_OFFLINE", None)
    return env


@pytest.fixture(scope="module")
def results(cases, error_env):
    table, tmp = cases
    (tmp / "driver.py").write_text(DRIVER)
    (tmp / "cases.json").write_text(json.dumps({name: argv for name, (argv, _, _) in table.items()}))
    run_script([str(tmp / "driver.py"), ROOT, str(tmp / "cases.json"), str(tmp / "results.json")], error_env, ROOT,
               timeout=600)
    return json.loads((tmp / "results.json").read_text())


def _check_one_line_error(rc, stderr, named, save_dir):
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert rc == 2, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert lines and lines[-1].startswith("train.py: error: "), stderr[-3000:]
    assert named in lines[-1], lines[-1]
    assert not os.path.exists(save_dir) or save_dir.startswith("/proc"), os.listdir(save_dir)


CASES = ["missing data_dir", "file as data_dir", "empty class folder", "missing train split", "val class train lacks",
         "unknown model", "bad auto_augment", "checkpoint of another model", "truncated checkpoint",
         "directory as checkpoint", "pretrained without network", "file-valued ckpt_save_dir",
         "unwritable ckpt_save_dir", "directory as config", "read-only ckpt_save_dir"]


@pytest.mark.parametrize("case", CASES)
def test_user_error_is_one_line_exit_2_and_writes_nothing(case, cases, results):
    table, _ = cases
    if case not in table:
        pytest.skip("running as root: permission bits do not stop root (the /proc case covers unwritable folders)")
    argv, named, save_dir = table[case]
    _check_one_line_error(results[case]["rc"], results[case]["stderr"], named, save_dir)


def test_pretrained_without_network_gives_up_quickly_with_the_manual_fix(results):
    message = results["pretrained without network"]["stderr"].strip().splitlines()[-1]
    assert "gave up after" in message and "To fetch it by hand" in message


@pytest.mark.parametrize("case", ["bad auto_augment", "truncated checkpoint"])
def test_real_process_exit_status_and_last_line(case, cases, error_env):
    """The same through ``python train.py``: MindSpore's own stderr noise comes before the one error line."""
    table, _ = cases
    argv, named, save_dir = table[case]
    result = run_script(["train.py"] + argv, error_env, ROOT, check=False, timeout=300)
    _check_one_line_error(result.returncode, result.stderr, named, save_dir)
