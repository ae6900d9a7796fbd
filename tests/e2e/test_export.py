"""export.py end to end: the MINDIR reloads through mindspore.load + nn.GraphCell with the checkpointed model's
logits, the ONNX file runs in onnxruntime with the same logits, and bad input gives one-line errors."""
import json
import os

import numpy as np
import pytest

import mindspore as ms
from mindspore import Tensor, nn

import export
from test_validate import NUM_CLASSES, random_model, save_training_checkpoint

ms.set_device("CPU")  # before any kernel runs: lets export.main() set it again in-process

SIZE = 32
BATCH = 2


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A random 7-class checkpoint saved like train.py saves one, and a probe input with the model's logits."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    base = tmp_path_factory.mktemp("export")
    model = random_model(seed=4)
    ckpt = save_training_checkpoint(model, str(base / "mixnet_s-2_20.ckpt"))
    probe = np.random.default_rng(5).standard_normal((BATCH, 3, SIZE, SIZE)).astype(np.float32)
    logits = model(Tensor(probe)).asnumpy()
    assert np.abs(logits).max() > 1.0  # logits of realistic scale: the comparison below means something
    return {"base": base, "ckpt": ckpt, "probe": probe, "logits": logits}


def run_export(argv, capsys) -> dict:
    """export.main(argv) expecting success; returns its EXPORTED record."""
    assert export.main(argv) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("EXPORTED ")]
    assert len(line) == 1
    return json.loads(line[0][len("EXPORTED "):])


def test_mindir_reloads_with_the_models_logits(case, tmp_path, capsys):
    target = tmp_path / "out" / "mixnet_s_digits"  # the suffix is added
    record = run_export(["--ckpt_path", case["ckpt"], "--format", "MINDIR", "--export_file", str(target),
                         "--image_resize", str(SIZE), "--export_batch_size", str(BATCH), "--mode", "1"], capsys)
    path = str(target) + ".mindir"
    assert record["file"] == path and record["input_shape"] == [BATCH, 3, SIZE, SIZE]
    assert record["mixconv_impl"] == "split"  # portable graph whatever runs in training (native on CPU)
    assert record["max_abs_diff"] is not None and record["max_abs_diff"] <= 1e-5
    # no staging leftovers; the side file holds the preprocessing
    assert sorted(os.listdir(tmp_path / "out")) == ["mixnet_s_digits.mindir", "mixnet_s_digits.mindir.json"]
    graph = nn.GraphCell(ms.load(path))
    # case["logits"] come from the default (native on CPU) model, the export is split: float rounding apart
    scale = float(np.abs(case["logits"]).max())
    np.testing.assert_allclose(graph(Tensor(case["probe"])).asnumpy(), case["logits"], rtol=0, atol=1e-5 * scale)


def test_onnx_runs_in_onnxruntime_with_the_models_logits(case, tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install onnxruntime)")
    path = str(tmp_path / "model.onnx")
    record = run_export(["--ckpt_path", case["ckpt"], "--file_format", "ONNX", "--export_file", path,
                         "--image_resize", str(SIZE), "--export_batch_size", str(BATCH), "--mode", "1"], capsys)
    assert record["format"] == "ONNX" and record["max_abs_diff"] is not None
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    out = session.run(None, {session.get_inputs()[0].name: case["probe"]})[0]
    assert out.shape == (BATCH, NUM_CLASSES)
    np.testing.assert_allclose(out, case["logits"], rtol=1e-4, atol=1e-4)


def test_bad_input_is_a_one_line_error(case, tmp_path, capsys):
    def error(argv) -> str:
        assert export.main(argv) == 2
        message = capsys.readouterr().err.strip()
        assert message.startswith("export.py: error: ") and "\n" not in message
        return message

    missing = str(tmp_path / "none.ckpt")
    assert missing in error(["--ckpt_path", missing])
    assert "is a directory" in error(["--ckpt_path", case["ckpt"], "--export_file", str(tmp_path)])
    assert "--num_classes 1000" in error(["--ckpt_path", case["ckpt"], "--num_classes", "1000"])
    assert "--mixconv_impl native cannot be exported" in error(["--ckpt_path", case["ckpt"], "--mixconv_impl",
                                                                 "native"])
    capsys.readouterr()
    assert export.main(["--ckpt_path", case["ckpt"], "--format", "TFLITE"]) == 2  # refused by the option parser
    assert "MINDIR" in capsys.readouterr().err
    assert not any(name.endswith((".mindir", ".onnx")) for name in os.listdir(tmp_path))
