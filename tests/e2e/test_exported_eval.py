"""validate.py and infer.py on exported files: the digits demo checkpoint exported to ONNX (dynamic batch) and
MINDIR (a fixed batch of 24: each batch of 64 is served in chunks, the last one padded) gives exactly the
checkpoint's top-1, top-5 and per-class results on 128 images of the digits validation split, with no option
repeated (the preprocessing travels in the file); infer.py's ONNX path gives the checkpoint's probabilities without
importing MindSpore; options that contradict the file, and a missing onnxruntime, are one-line errors.
export.py --quantize int8 reports the numbers validate.py measures on the int8 and float files, and keeps the
named groups in float."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import mindspore as ms

import export
import infer
import validate
from conftest import ROOT

ms.set_device("CPU")  # before any kernel runs: lets the scripts' main() set it again in-process

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install onnxruntime)")
# 128 evenly spaced validation images of the 364 (all 10 classes), in two full batches of 64
RUNTIME = ["--mode", "1", "--num_parallel_workers", "2", "--batch_size", "64", "--num_samples", "128"]
DIGITS = ["--dataset", "digits", "--data_dir", ""]


@pytest.fixture(scope="module")
def files(digits_run, tmp_path_factory):
    """The demo checkpoint exported to ONNX and MINDIR, and the checkpoint's own validation results."""
    base = tmp_path_factory.mktemp("exported")
    ckpt = str(digits_run / "mixnet_s-best.ckpt")
    config = ["-c", str(digits_run / "config.yaml"), "--ckpt_path", ckpt, "--mode", "1"]
    onnx, mindir = str(base / "digits.onnx"), str(base / "digits.mindir")
    for argv in (["--format", "ONNX", "--export_file", onnx, "--dynamic_batch", "True"],
                 ["--format", "MINDIR", "--export_file", mindir, "--export_batch_size", "24"]):
        assert export.main(config + argv) == 0
    reference = str(base / "ckpt.json")
    assert validate.main(config + RUNTIME + ["--results_json", reference]) == 0
    return {"base": base, "ckpt": ckpt, "config": config, "onnx": onnx, "mindir": mindir, "reference": reference}


def read(path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.parametrize("kind", ["onnx", "mindir"])
def test_exported_file_gives_the_checkpoints_numbers_without_repeating_options(files, kind, tmp_path):
    out = tmp_path / f"{kind}.json"
    # no -c: image size, crop_pct, interpolation, mean/std and the class names come from the file
    assert validate.main(["--ckpt_path", files[kind], "--results_json", str(out)] + DIGITS + RUNTIME) == 0
    got, expected = read(out), read(files["reference"])
    assert got["num_samples"] == expected["num_samples"] == 128
    assert got["top1"] == expected["top1"] and got["top5"] == expected["top5"]  # exactly: the same predictions
    assert got["top1"] > 50.0  # a trained model (chance is 10 %), so equality is not trivial
    assert got["loss"] == pytest.approx(expected["loss"], rel=1e-4)
    settings = got["settings"]
    assert settings["weights_format"] == kind.upper() and settings["image_resize"] == 32
    assert settings["interpolation"] == "bilinear" and settings["crop_pct"] == 1.0
    for suffix in (".per_class.csv", ".confusion.csv"):
        assert (tmp_path / f"{kind}{suffix}").read_text() == \
            open(files["reference"][:-len(".json")] + suffix, encoding="utf-8").read()


def test_onnx_metadata_and_mindir_side_file_hold_the_preprocessing(files):
    import onnxruntime

    props = onnxruntime.InferenceSession(files["onnx"], providers=["CPUExecutionProvider"]) \
        .get_modelmeta().custom_metadata_map
    side = read(files["mindir"] + ".json")
    for meta in ({k: json.loads(v) for k, v in props.items()}, side):
        assert (meta["model_name"], meta["num_classes"], meta["image_resize"]) == ("mixnet_s", 10, 32)
        assert meta["class_names"] == [str(d) for d in range(10)]
        assert meta["mean"] == pytest.approx([123.675, 116.28, 103.53]) and meta["interpolation"] == "bilinear"
    assert side["input_shape"] == [24, 3, 32, 32] and side["dynamic_batch"] is False


def test_infer_with_onnx_gives_the_checkpoints_probabilities_without_mindspore(files, script_env, tmp_path):
    from mindcv.data.digits import prepare_digits

    val = os.path.join(prepare_digits(None), "val")
    images = [os.path.join(val, d, sorted(os.listdir(os.path.join(val, d)))[0]) for d in ("3", "7")]
    ref = tmp_path / "ckpt.json"
    assert infer.main(files["config"] + ["--results_json", str(ref), "--topk", "10"] + images) == 0
    out = tmp_path / "onnx.json"
    code = ("import sys, infer; status = infer.main(sys.argv[1:]); "
            "print('MINDSPORE_IMPORTED', 'mindspore' in sys.modules); sys.exit(status)")
    proc = subprocess.run([sys.executable, "-c", code, "--ckpt_path", files["onnx"], "--results_json", str(out),
                           "--topk", "10"] + images, env=script_env, cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "MINDSPORE_IMPORTED False" in proc.stdout
    want, got = read(ref)["predictions"], read(out)["predictions"]
    assert [p["image"] for p in got] == images and read(out)["format"] == "ONNX"
    for a, b in zip(want, got):
        assert [t["class"] for t in a["top"]] == [t["class"] for t in b["top"]]
        assert [t["name"] for t in b["top"]] == [t["name"] for t in a["top"]]  # the file's class names
        np.testing.assert_allclose([t["probability"] for t in b["top"]], [t["probability"] for t in a["top"]],
                                   rtol=0, atol=2e-5)


def test_contradicting_options_and_a_missing_onnxruntime_are_one_line_errors(files, capsys, monkeypatch):
    def error(script, argv) -> str:
        assert script.main(argv) == 2
        message = capsys.readouterr().err.strip()
        assert "\n" not in message and "Traceback" not in message
        return message

    message = error(validate, ["--ckpt_path", files["onnx"], "--image_resize", "48"] + DIGITS + RUNTIME)
    assert "--image_resize 48 contradicts digits.onnx, exported with image_resize 32" in message
    image = os.path.join(ROOT, "tests", "e2e", "conftest.py")  # refused before any image is read
    message = error(infer, ["--ckpt_path", files["mindir"], "--model", "mixnet_m", image])
    assert "--model mixnet_m contradicts digits.mindir, exported with model mixnet_s" in message
    assert "EMA weights" in error(validate, ["--ckpt_path", files["onnx"], "--ema", "True"] + DIGITS + RUNTIME)
    assert "already an exported file" in error(export, ["--ckpt_path", files["onnx"]])
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError
    message = error(validate, ["--ckpt_path", files["onnx"]] + DIGITS + RUNTIME)
    assert message == "validate.py: error: onnxruntime is not installed: pip install onnxruntime (it runs ONNX " \
                      "files; optional otherwise)"


def predicted(csv_path) -> list:
    with open(csv_path, newline="", encoding="utf-8") as f:
        return [int(row["top1"]) for row in csv.DictReader(f)]


def test_int8_export_reports_what_validate_measures_on_its_files(files, tmp_path, capsys):
    pytest.importorskip("onnx", reason="int8 quantization needs the onnx package")
    path = str(tmp_path / "digits_int8.onnx")
    # measured in the batches validate.py runs below (RUNTIME): onnxruntime's float kernels may round the last
    # bit differently at another batch size, and an int8 model can turn that into another class
    assert export.main(files["config"] + ["--quantize", "int8", "--export_file", path, "--calib_samples", "64"]
                       + RUNTIME) == 0
    out = capsys.readouterr().out
    record = json.loads([ln for ln in out.splitlines() if ln.startswith("EXPORTED ")][0][len("EXPORTED "):])
    quant = record["quantization"]
    assert record["file"] == path and quant["calib_samples"] == 64 and quant["num_samples"] == 128
    assert quant["int8_bytes"] == os.path.getsize(path) and quant["size_ratio"] < 0.35
    assert quant["speedup"] > 0 and quant["float_nodes"] == 0
    assert sorted(os.listdir(tmp_path)) == ["digits_int8.onnx"]  # the float file it started from is gone
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert json.loads(session.get_modelmeta().custom_metadata_map["quantization"]) == "int8"
    # validate.py on the int8 file and on the float file (no option repeated): the record's numbers
    results = {}
    for kind, model in (("int8", path), ("float", files["onnx"])):
        stem = tmp_path / kind
        assert validate.main(["--ckpt_path", model, "--results_json", f"{stem}.json", "--results_csv",
                              f"{stem}.csv"] + DIGITS + RUNTIME) == 0
        results[kind] = (read(f"{stem}.json"), predicted(f"{stem}.csv"))
    assert results["int8"][0]["settings"]["quantization"] == "int8"
    assert quant["int8_top1"] == results["int8"][0]["top1"] and quant["int8_top5"] == results["int8"][0]["top5"]
    assert quant["float_top1"] == results["float"][0]["top1"]
    agreement = 100.0 * np.mean(np.equal(results["int8"][1], results["float"][1]))
    assert quant["top1_agreement"] == pytest.approx(agreement, abs=1e-9) and agreement > 50.0


def test_int8_keeps_the_named_groups_in_float_and_refuses_bad_input(files, tmp_path, capsys, monkeypatch):
    onnx = pytest.importorskip("onnx", reason="int8 quantization needs the onnx package")
    from mindcv.eval.quantize import quantize_int8

    path = str(tmp_path / "mixed.onnx")
    calibration = np.random.default_rng(0).standard_normal((8, 3, 32, 32)).astype(np.float32)
    info = quantize_int8(files["onnx"], path, calibration, keep_float=["stem", "se", "classifier"], batch=4)
    assert info["float_nodes"] == 2 + 2 * 13  # stem, classifier, both convolutions of 13 squeeze-excite blocks
    model = onnx.load(path)
    dequantized = {o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    convolutions = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm")]
    assert len(convolutions) > 100
    for node in convolutions:
        kept = any(mark in node.input[1] for mark in ("stem_conv", "conv_reduce", "conv_expand", "classifier"))
        assert (node.input[1] not in dequantized) == kept, node.input[1]

    def error(argv) -> str:
        assert export.main(files["config"] + argv) == 2
        message = capsys.readouterr().err.strip()
        assert "\n" not in message and "Traceback" not in message
        return message

    assert "writes an ONNX file: omit --file_format MINDIR" in error(["--quantize", "int8", "--format", "MINDIR"])
    assert "unknown group(s) head" in error(["--quantize", "int8", "--quant_keep_float", "stem,head"])
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert "pip install onnx onnxruntime" in error(["--quantize", "int8", "--export_file", str(tmp_path / "x.onnx")])
