"""validate.py end to end: numbers equal a hand computation from the model's own predictions, EMA selection,
msrun with an odd number of images, and a clear one-line error for every kind of bad input.

The checkpoint is a mixnet_s with random weights of realistic scale (predictions spread over the classes),
saved the way train.py saves one (optimizer state, EMA copies, metadata), so no training is needed here.
"""
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import mindspore as ms
from mindspore import Tensor
from mindspore.dataset.transforms import Compose
from PIL import Image

import validate
from conftest import ROOT, free_port

# Fix the device before any kernel runs in this process, so the scripts' main() (which sets it again, to the
# same value) can run in-process; MindSpore refuses a first set_device once its runtime has started.
ms.set_device("CPU")

NUM_CLASSES = 7
CLASSES = [f"c{k}" for k in range(NUM_CLASSES)]
IMAGE_SIZE = 32
CROP_PCT = 0.875
COMMON = ["--image_resize", str(IMAGE_SIZE), "--crop_pct", str(CROP_PCT), "--batch_size", "4", "--mode", "1",
          "--num_parallel_workers", "2"]


def randomize(model, seed: int) -> None:
    """Random weights of realistic scale (He-normal convs, BN near identity) so logits are O(1) and varied."""
    rng = np.random.default_rng(seed)
    for param in model.get_parameters():
        shape, name = param.shape, param.name
        if "moving_variance" in name or "gamma" in name:
            value = rng.uniform(0.5, 1.5, shape)
        elif "moving_mean" in name or "beta" in name or len(shape) < 2:
            value = rng.normal(0.0, 0.1, shape)
        else:
            value = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[1:])), shape)
        param.set_data(Tensor(value.astype(np.float32)))


def random_model(num_classes: int = NUM_CLASSES, seed: int = 0):
    """A mixnet_s in inference mode with random weights."""
    from mindcv.models import create_model

    model = create_model("mixnet_s", num_classes=num_classes)
    randomize(model, seed)
    model.set_train(False)
    return model


def save_training_checkpoint(model, path: str, ema_roll: int = 1, extra_meta=None) -> str:
    """Save like train.py (weights, adam state, global_step, metadata) plus ``ema.*`` copies whose classifier
    rows are rolled by ``ema_roll``: the EMA model's logits are the raw ones rolled along the class axis."""
    from mindcv.utils.checkpoint import save_checkpoint_atomic

    entries = {}
    for param in model.get_parameters():
        value = param.asnumpy()
        entries[param.name] = value
        entries[f"adam_m.{param.name}"] = np.zeros_like(value)
        if param.name.startswith("classifier."):
            value = np.roll(value, ema_roll, axis=0)
        entries[f"ema.{param.name}"] = value
    entries["global_step"] = np.array([10], np.int32)
    meta = {"model_name": "mixnet_s", "num_classes": model.classifier.weight.shape[0], "epoch_num": 3, "step_num": 30}
    meta.update(extra_meta or {})
    return save_checkpoint_atomic({k: Tensor(v) for k, v in entries.items()}, path, append_dict=meta)


def write_images(directory: str, count: int, seed: int) -> None:
    """``count`` random RGB PNGs of varied sizes in ``directory``."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    for i in range(count):
        size = (40, 36) if i % 2 else (34, 44)
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(os.path.join(directory, f"img_{seed}_{i}.png"))


def make_dataset(root: str) -> str:
    """root/train/c0..c6 (1 image each: the class list) and root/val with 15 images (c0 has 3): an odd count."""
    for k, name in enumerate(CLASSES):
        write_images(os.path.join(root, "train", name), 1, seed=100 + k)
        write_images(os.path.join(root, "val", name), 3 if k == 0 else 2, seed=200 + k)
    return root


def val_samples(root: str):
    """(path, label) of every val image, labels from the sorted class folders."""
    return [(os.path.join(root, "val", name, f), k) for k, name in enumerate(CLASSES)
            for f in sorted(os.listdir(os.path.join(root, "val", name)))]


def model_logits(model, paths, image_resize: int = IMAGE_SIZE, crop_pct: float = CROP_PCT) -> np.ndarray:
    """Logits of ``model`` for each image, preprocessed one by one with the eval transforms."""
    from mindcv.data import create_transforms

    transform = Compose(create_transforms("imagenet", image_resize=image_resize, is_training=False, crop_pct=crop_pct))
    images = np.stack([transform(np.fromfile(p, dtype=np.uint8)) for p in paths])
    return model(Tensor(images)).asnumpy().astype(np.float64)


def hand_metrics(logits: np.ndarray, labels) -> dict:
    """Top-1 / top-5 in percent and mean cross-entropy, computed directly."""
    labels = np.asarray(labels)
    ranked = np.argsort(-logits, axis=1)
    log_probs = logits - logits.max(axis=1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(axis=1, keepdims=True))
    return {"top1": 100.0 * np.mean(ranked[:, 0] == labels),
            "top5": 100.0 * np.mean([label in row[:5] for row, label in zip(ranked, labels)]),
            "loss": float(-np.mean(log_probs[np.arange(len(labels)), labels])),
            "num_samples": len(labels)}


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A tiny dataset, a training-style checkpoint of a random model, and the hand-computed expectations."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    base = tmp_path_factory.mktemp("validate")
    root = make_dataset(str(base / "data"))
    model = random_model()
    ckpt = save_training_checkpoint(model, str(base / "run" / "mixnet_s-3_30.ckpt"))
    samples = val_samples(root)
    logits = model_logits(model, [p for p, _ in samples])
    labels = [label for _, label in samples]
    predicted = set(np.argmax(logits, axis=1).tolist())
    assert len(predicted) >= 3, f"the random model should spread its predictions, got classes {predicted}"
    return {"base": base, "root": root, "ckpt": ckpt, "samples": samples, "logits": logits, "labels": labels,
            "expected": hand_metrics(logits, labels), "expected_ema": hand_metrics(np.roll(logits, 1, axis=1), labels)}


def script_env() -> dict:
    """Environment of the script subprocesses: quiet MindSpore, the repository importable, msrun's python first."""
    env = dict(os.environ, GLOG_v="3", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def run_validate(argv, cwd, timeout=600) -> subprocess.CompletedProcess:
    """python validate.py <argv> in a subprocess."""
    return subprocess.run([sys.executable, os.path.join(ROOT, "validate.py")] + list(argv), env=script_env(),
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)


def read_json(path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def assert_matches(result: dict, expected: dict) -> None:
    """Counts exactly, accuracies to rounding, loss to float32 precision."""
    assert result["num_samples"] == expected["num_samples"]
    assert result["top1"] == pytest.approx(expected["top1"], abs=1e-9)
    assert result["top5"] == pytest.approx(expected["top5"], abs=1e-9)
    assert result["loss"] == pytest.approx(expected["loss"], rel=1e-4)


def assert_per_class(stem: str, case: dict, predictions_csv: str = "") -> None:
    """per_class.csv, confusion.csv (and the per-image CSV) agree with the hand-computed predictions."""
    predicted = np.argmax(case["logits"], axis=1)
    labels = np.asarray(case["labels"])
    with open(stem + ".per_class.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == CLASSES
    for k, row in enumerate(rows):
        assert int(row["images"]) == int((labels == k).sum())
        assert int(row["top1_hits"]) == int(((labels == k) & (predicted == k)).sum())
    with open(stem + ".confusion.csv", newline="") as f:
        matrix = np.array([[int(v) for v in r[1:]] for r in list(csv.reader(f))[1:]])
    expected = np.zeros((NUM_CLASSES, NUM_CLASSES), int)
    np.add.at(expected, (labels, predicted), 1)
    assert (matrix == expected).all()
    if predictions_csv:
        with open(predictions_csv, newline="") as f:
            rows = list(csv.DictReader(f))
        assert [r["image"] for r in rows] == [p for p, _ in case["samples"]]
        assert [int(r["top1"]) for r in rows] == predicted.tolist()
        assert "top5" in rows[0] and "top6" not in rows[0]


def test_validate_reports_the_hand_computed_numbers(case, tmp_path):
    out = tmp_path / "result.json"
    proc = run_validate(["--data_dir", case["root"], "--ckpt_path", case["ckpt"], "--results_json", str(out),
                         "--results_csv", str(tmp_path / "images.csv")] + COMMON, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = read_json(out)
    assert_matches(result, case["expected"])
    assert result["images_per_sec"] is None or result["images_per_sec"] > 0
    settings = result["settings"]
    with open(case["ckpt"], "rb") as f:
        assert settings["checkpoint_sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert (settings["image_resize"], settings["resize"], settings["crop_pct"]) == (IMAGE_SIZE, 36, CROP_PCT)
    assert settings["ema"] is False and settings["num_classes"] == NUM_CLASSES
    # the same record on one machine-readable stdout line, and the resolved settings in the log
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert len(line) == 1 and json.loads(line[0][len("RESULT "):])["top1"] == result["top1"]
    assert "crop_pct 0.875" in proc.stdout and "resize short side to 36 (bilinear)" in proc.stdout
    assert "EMA weights: no" in proc.stdout and "pass --ema True" in proc.stdout
    assert_per_class(str(tmp_path / "result"), case, str(tmp_path / "images.csv"))
    assert os.path.getsize(tmp_path / "result.confusion.png") > 1000


def test_ema_weights_are_used_when_asked_and_results_sit_beside_the_checkpoint(case, tmp_path):
    ckpt = tmp_path / "copy.ckpt"
    shutil.copy(case["ckpt"], ckpt)
    code = validate.main(["--data_dir", case["root"], "--ckpt_path", str(ckpt), "--ema", "True"] + COMMON)
    assert code == 0
    result = read_json(tmp_path / "copy.eval.json")  # the default results file
    assert_matches(result, case["expected_ema"])
    assert result["settings"]["ema"] is True
    assert case["expected_ema"]["top1"] != case["expected"]["top1"]  # the test can tell the two weight sets apart


def test_msrun_two_ranks_count_every_image_once(case, tmp_path):
    out = tmp_path / "dist.json"
    msrun = os.path.join(os.path.dirname(sys.executable), "msrun")
    cmd = [msrun if os.path.exists(msrun) else "msrun", "--worker_num", "2", "--local_worker_num", "2",
           "--master_port", str(free_port()), "--log_dir", str(tmp_path / "logs"), "--join", "True",
           os.path.join(ROOT, "validate.py"), "--data_dir", case["root"], "--ckpt_path", case["ckpt"],
           "--distribute", "True", "--results_json", str(out)] + COMMON
    proc = subprocess.run(cmd, env=script_env(), cwd=str(tmp_path), capture_output=True, text=True, timeout=600)
    logs = [(tmp_path / "logs" / f"worker_{r}.log").read_text() for r in (0, 1)]
    assert proc.returncode == 0, logs[0][-3000:] + logs[1][-3000:]
    result = read_json(out)
    assert result["settings"]["num_devices"] == 2
    assert_matches(result, case["expected"])  # 15 images over 2 ranks: 8 + 7, none padded or dropped
    assert "RESULT " in logs[0] and "RESULT " not in logs[1]  # only rank 0 reports
    assert_per_class(str(tmp_path / "dist"), case)  # every image's prediction gathered from both ranks


def test_flat_val_folder_is_explained_and_a_labels_file_accepted(case, tmp_path):
    root = tmp_path / "flat"
    shutil.copytree(os.path.join(case["root"], "train"), root / "train")
    (root / "val").mkdir()
    lines = []
    for i, (path, label) in enumerate(case["samples"]):
        name = f"ILSVRC2012_val_{i + 1:08d}.png"
        shutil.copy(path, root / "val" / name)
        lines.append(f"{name} {CLASSES[label]}")
    args = ["--data_dir", str(root), "--ckpt_path", case["ckpt"]] + COMMON
    proc = run_validate(args, cwd=str(tmp_path))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "without class sub-folders" in proc.stderr and "ILSVRC2012_val_00000001.png" in proc.stderr
    assert "--val_labels" in proc.stderr and "<wnid>" in proc.stderr
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(lines) + "\n")
    out = tmp_path / "flat.json"
    assert validate.main(args + ["--val_labels", str(labels), "--results_json", str(out)]) == 0
    assert_matches(read_json(out), case["expected"])


def errors_of(argv, capsys) -> str:
    """Run validate.main expecting exit status 2; return its one-line message."""
    assert validate.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("validate.py: error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_missing_checkpoint_is_an_error_not_random_weights(case, tmp_path, capsys):
    missing = str(tmp_path / "nope.ckpt")
    out = tmp_path / "r.json"
    err = errors_of(["--data_dir", case["root"], "--ckpt_path", missing, "--results_json", str(out)] + COMMON, capsys)
    assert missing in err and "not found" in err
    assert not out.exists()
    assert "no weights given" in errors_of(["--data_dir", case["root"]] + COMMON, capsys)


def test_mismatched_checkpoints_are_named(case, tmp_path, capsys):
    params = {k: v for k, v in ms.load_checkpoint(case["ckpt"]).items() if isinstance(v, (ms.Parameter, Tensor))}
    base = ["--data_dir", case["root"]] + COMMON
    err = errors_of(base + ["--ckpt_path", case["ckpt"], "--num_classes", "10"], capsys)
    assert "--num_classes 10" in err and "7 outputs" in err
    err = errors_of(base + ["--ckpt_path", case["ckpt"], "--model", "mixnet_m"], capsys)
    assert "--model is mixnet_m" in err and "pass --model mixnet_s" in err
    from mindcv.utils.checkpoint import save_checkpoint_atomic

    shrunk = dict(params)
    name = "head_conv.0.weight"
    shrunk[name] = Tensor(params[name].asnumpy()[:, :-8])
    path = save_checkpoint_atomic(shrunk, str(tmp_path / "shape.ckpt"))
    err = errors_of(base + ["--ckpt_path", path], capsys)
    assert name in err and "do not fit" in err
    partial = {k: v for k, v in params.items() if not k.startswith("layers.1")}
    path = save_checkpoint_atomic(partial, str(tmp_path / "partial.ckpt"))
    assert "lacks" in errors_of(base + ["--ckpt_path", path], capsys)
    no_ema = {k: v for k, v in params.items() if not k.startswith("ema.")}
    path = save_checkpoint_atomic(no_ema, str(tmp_path / "no_ema.ckpt"))
    assert "no EMA weights" in errors_of(base + ["--ckpt_path", path, "--ema", "True"], capsys)
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    assert str(junk) in errors_of(base + ["--ckpt_path", str(junk)], capsys)


def test_data_errors_are_named(case, tmp_path, capsys):
    args = ["--ckpt_path", case["ckpt"]] + COMMON
    err = errors_of(["--data_dir", case["root"], "--val_split", "validation"] + args, capsys)
    assert "no validation split" in err and "'train'" in err and "'val'" in err
    mixed = tmp_path / "mixed"  # the suggestions name only folders that hold class folders of images
    write_images(str(mixed / "holdout" / "k0"), 1, seed=0)
    (mixed / "ckpt_demo").mkdir()
    (mixed / "ckpt_demo" / "mixnet_s-best.ckpt").write_bytes(b"x")
    (mixed / "benchmarks" / "results").mkdir(parents=True)
    err = errors_of(["--data_dir", str(mixed), "--val_split", "validation"] + args, capsys)
    assert "'holdout'" in err and "ckpt_demo" not in err and "benchmarks" not in err, err
    err = errors_of(["--data_dir", str(tmp_path / "none")] + args, capsys)
    assert str(tmp_path / "none") in err
    assert "is a directory" in errors_of(["--data_dir", case["root"], "--results_json", str(tmp_path)] + args, capsys)
    wide = tmp_path / "wide"
    for k in range(NUM_CLASSES + 1):
        write_images(str(wide / "val" / f"k{k}"), 1, seed=k)
    assert "8 classes" in errors_of(["--data_dir", str(wide)] + args, capsys)


def test_undecodable_image_fails_the_run_naming_the_file(case, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(case["root"], root)
    bad = root / "val" / "c3" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    out = tmp_path / "r.json"
    err = errors_of(["--data_dir", str(root), "--ckpt_path", case["ckpt"], "--results_json", str(out)] + COMMON,
                    capsys)
    assert "1 image file(s) could not be decoded" in err
    assert not out.exists()
