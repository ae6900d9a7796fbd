"""infer.py end to end: the right classes after training on the digits demo, top-k equal to the model's own
probabilities, class names from every source, and clear errors for undecodable images and bad paths."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import mindspore as ms

import infer
from conftest import ROOT
from mindcv.data.imagenet_classes import imagenet_class_names, imagenet_synsets, imagenet_wnids
from test_validate import (CLASSES, COMMON, NUM_CLASSES, make_dataset, model_logits, random_model,
                           save_training_checkpoint, val_samples)

ms.set_device("CPU")  # before any kernel runs: lets infer.main() set it again in-process


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A tiny dataset and a random 7-class checkpoint, with the model's softmax probabilities per val image."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    base = tmp_path_factory.mktemp("infer")
    root = make_dataset(str(base / "data"))
    model = random_model(seed=1)
    ckpt = save_training_checkpoint(model, str(base / "mixnet_s-1_1.ckpt"))
    paths = [p for p, _ in val_samples(root)]
    logits = model_logits(model, paths)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return {"base": base, "root": root, "ckpt": ckpt, "model": model, "paths": paths,
            "probs": probs / probs.sum(axis=1, keepdims=True)}


def predictions(path) -> dict:
    """image -> list of (class, name, probability) from a --results_json file."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return {p["image"]: [(t["class"], t["name"], t["probability"]) for t in p["top"]] for p in data["predictions"]}


def test_topk_are_the_models_probabilities_with_dataset_class_names(case, tmp_path, capsys):
    out = tmp_path / "pred.json"
    folder = os.path.join(case["root"], "val")
    code = infer.main(["--ckpt_path", case["ckpt"], "--data_dir", case["root"], "--topk", "3",
                       "--results_json", str(out), folder] + COMMON)
    assert code == 0
    printed = capsys.readouterr().out
    found = predictions(out)
    assert sorted(found) == sorted(case["paths"])  # the folder was searched recursively
    for path, probs in zip(case["paths"], case["probs"]):
        expected = np.argsort(-probs)[:3]
        assert [c for c, _, _ in found[path]] == expected.tolist()
        assert [n for _, n, _ in found[path]] == [CLASSES[i] for i in expected]
        # infer.py runs the CPU inference form (BatchNorm folded: other float32 rounding than the model's graph);
        # measured 5.4e-4 relative on a probability of 7e-5, 1.3e-6 absolute on one of 0.997
        np.testing.assert_allclose([q for _, _, q in found[path]], probs[expected], rtol=2e-3, atol=1e-5)
        best = expected[0]
        assert f"{100 * probs[best]:6.2f} %  {CLASSES[best]}  (class {best})" in printed


def test_names_from_checkpoint_metadata_and_from_a_file(case, tmp_path, capsys):
    names = [f"label-{k}" for k in range(NUM_CLASSES)]
    ckpt = save_training_checkpoint(case["model"], str(tmp_path / "named.ckpt"),
                                    extra_meta={"class_names": json.dumps(names)})
    image = case["paths"][0]
    out = tmp_path / "a.json"
    assert infer.main(["--ckpt_path", ckpt, "--results_json", str(out), image] + COMMON) == 0
    best = int(np.argmax(case["probs"][0]))
    assert predictions(out)[image][0][:2] == (best, names[best])
    listed = tmp_path / "names.txt"
    listed.write_text("\n".join(f"file-{k}" for k in range(NUM_CLASSES)) + "\n")
    assert infer.main(["--ckpt_path", ckpt, "--class_names", str(listed), "--results_json", str(out), image]
                      + COMMON) == 0
    assert predictions(out)[image][0][1] == f"file-{best}"
    assert infer.main(["--ckpt_path", case["ckpt"], image] + COMMON) == 0  # no names anywhere: label indices
    assert f"class {best}  (class {best})" in capsys.readouterr().out


def test_a_few_images_run_in_pynative_mode_unless_mode_is_given(case, monkeypatch):
    from mindcv import engine

    modes = []  # the mode infer.py asks for (the context itself stays PyNative here: no graph compile in a test)
    monkeypatch.setattr(engine, "set_context", lambda args: modes.append(args.mode) or args)
    no_mode = [a for i, a in enumerate(COMMON) if a != "--mode" and COMMON[i - 1] != "--mode"]
    image = case["paths"][0]
    assert infer.main(["--ckpt_path", case["ckpt"], image] + no_mode) == 0  # default mode 0
    assert infer.main(["--ckpt_path", case["ckpt"], image, "--mode", "0"] + no_mode) == 0
    monkeypatch.setattr(infer, "PYNATIVE_MAX_IMAGES", 4)
    assert infer.main(["--ckpt_path", case["ckpt"], os.path.join(case["root"], "val")] + no_mode) == 0  # 15 images
    assert modes == [1, 0, 0]


def test_imagenet_names_for_a_1000_class_model(tmp_path, capsys):
    ckpt = save_training_checkpoint(random_model(num_classes=1000, seed=2), str(tmp_path / "in1k.ckpt"))
    image = tmp_path / "img.png"
    from PIL import Image

    Image.fromarray(np.random.default_rng(3).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(image)
    out = tmp_path / "p.json"
    assert infer.main(["--ckpt_path", ckpt, "--results_json", str(out), str(image)] + COMMON) == 0
    top = predictions(out)[str(image)]
    assert len(top) == 5 and all(name == imagenet_class_names()[c] for c, name, _ in top)
    assert [q for _, _, q in top] == sorted((q for _, _, q in top), reverse=True)


def test_imagenet_class_list_is_the_standard_index():
    wnids, names = imagenet_wnids(), imagenet_class_names()
    assert len(wnids) == len(set(wnids)) == 1000 and wnids == sorted(wnids)  # the index is the sorted wnids
    assert (wnids[0], names[0]) == ("n01440764", "tench") and (wnids[-1], names[-1]) == ("n15075141", "toilet tissue")
    known = {1: "goldfish", 207: "golden retriever", 281: "tabby", 340: "zebra", 409: "analog clock",
             530: "digital clock", 817: "sports car", 954: "banana"}
    assert {i: names[i] for i in known} == known
    assert imagenet_synsets()[285] == ("n02124075", "Egyptian cat")


def test_undecodable_image_is_reported_and_the_others_classified(case, tmp_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 30)  # a JPEG header, then nothing
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    out = tmp_path / "p.json"
    good = case["paths"][1]
    code = infer.main(["--ckpt_path", case["ckpt"], "--results_json", str(out), str(broken), good, str(text)]
                      + COMMON)
    assert code == 1
    err = capsys.readouterr().err
    assert f"infer.py: error: {broken}: corrupt JPEG" in err and f"{text}: not a JPEG, PNG or BMP" in err
    assert "2 of 3 image(s) could not be classified" in err and "Traceback" not in err
    assert list(predictions(out)) == [good]


def test_bad_paths_and_weights_are_one_line_errors(case, tmp_path, capsys):
    def error(argv) -> str:
        assert infer.main(argv + COMMON) == 2
        message = capsys.readouterr().err.strip()
        assert message.startswith("infer.py: error: ") and "\n" not in message
        return message

    image = case["paths"][0]
    assert str(tmp_path / "missing.png") in error(["--ckpt_path", case["ckpt"], str(tmp_path / "missing.png")])
    (tmp_path / "empty").mkdir()
    assert "holds no image files" in error(["--ckpt_path", case["ckpt"], str(tmp_path / "empty")])
    assert "not found" in error(["--ckpt_path", str(tmp_path / "none.ckpt"), image])
    assert "no weights given" in error([image])
    short = tmp_path / "short.txt"
    short.write_text("a\nb\n")
    assert "2 class names" in error(["--ckpt_path", case["ckpt"], "--class_names", str(short), image])


def test_trained_digits_model_names_the_right_digits(digits_run, script_env, tmp_path):
    """After the demo training run, infer.py's top-1 over the digits val split is the accuracy validate.py
    reports for the same checkpoint, and far above chance."""
    def run(argv):
        proc = subprocess.run([sys.executable] + argv, env=script_env, cwd=str(tmp_path), capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc.stdout

    val_dir = os.path.join(run(["-m", "mindcv.data.digits"]).strip().splitlines()[-1], "val")
    common = ["-c", str(digits_run / "config.yaml"), "--ckpt_path", str(digits_run / "mixnet_s-best.ckpt"),
              "--mode", "1", "--num_parallel_workers", "2"]
    pred_file, eval_file = tmp_path / "pred.json", tmp_path / "eval.json"
    run([os.path.join(ROOT, "infer.py"), val_dir, "--results_json", str(pred_file), "--batch_size", "128"] + common)
    run([os.path.join(ROOT, "validate.py"), "--results_json", str(eval_file)] + common)
    found = predictions(pred_file)
    assert len(found) == 364
    hits = [top[0][1] == os.path.basename(os.path.dirname(image)) for image, top in found.items()]
    with open(eval_file, encoding="utf-8") as f:
        validated = json.load(f)
    assert 100.0 * np.mean(hits) == pytest.approx(validated["top1"], abs=1e-9)
    assert validated["num_samples"] == 364 and validated["top1"] > 50.0  # 10 digits: chance is 10 %
