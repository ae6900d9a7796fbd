"""ONNX export through mindspore.onnx.export (MindSpore 2.10's replacement of export(file_format='ONNX')): a
dynamic batch axis runs in onnxruntime at two batch sizes with the model's logits, without the deprecation line.

MindSpore 2.10 marks only the input's axis dynamic: the output's declared shape keeps the sample's batch, so
onnxruntime logs a shape warning at other batch sizes (the values are right)."""
import json

import numpy as np
import pytest

import mindspore as ms
from mindspore import Tensor

import export
from test_validate import NUM_CLASSES, random_model, save_training_checkpoint

ms.set_device("CPU")  # before any kernel runs: lets export.main() set it again in-process

SIZE = 32


def test_dynamic_batch_onnx_runs_at_two_batch_sizes(tmp_path, capfd, monkeypatch):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install onnxruntime)")
    formats = []  # what the deprecated path would be asked for (its warning is silenced by GLOG_v=3 here)
    real_export = ms.export
    monkeypatch.setattr(ms, "export", lambda *a, **k: formats.append(k.get("file_format")) or real_export(*a, **k))
    ms.set_context(mode=ms.PYNATIVE_MODE)
    model = random_model(seed=6)
    ckpt = save_training_checkpoint(model, str(tmp_path / "mixnet_s-1_10.ckpt"))
    path = str(tmp_path / "dyn.onnx")
    capfd.readouterr()
    assert export.main(["--ckpt_path", ckpt, "--file_format", "ONNX", "--export_file", path, "--image_resize",
                        str(SIZE), "--export_batch_size", "2", "--dynamic_batch", "True", "--mode", "1"]) == 0
    out, err = capfd.readouterr()
    record = json.loads([ln for ln in out.splitlines() if ln.startswith("EXPORTED ")][0][len("EXPORTED "):])
    assert record["dynamic_batch"] is True and record["max_abs_diff"] is not None  # verified at batch 2
    assert formats == [] and "will be deleted" not in out + err  # mindspore.export(file_format='ONNX') unused
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (image,), (logits,) = session.get_inputs(), session.get_outputs()
    assert image.name == "image" and logits.name == "logits" and not isinstance(image.shape[0], int)
    rng = np.random.default_rng(7)
    for batch in (1, 5):
        probe = rng.standard_normal((batch, 3, SIZE, SIZE)).astype(np.float32)
        got = session.run(None, {"image": probe})[0]
        assert got.shape == (batch, NUM_CLASSES)
        expected = model(Tensor(probe)).asnumpy()
        np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5 * float(np.abs(expected).max()))


def test_dynamic_batch_is_refused_for_mindir(tmp_path, capsys):
    assert export.main(["--ckpt_path", str(tmp_path / "x.ckpt"), "--file_format", "MINDIR", "--dynamic_batch",
                        "True"]) == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("export.py: error: --dynamic_batch True is for ONNX") and "\n" not in message
