"""tools/avg_checkpoints.py: the mean of the chosen checkpoints' network weights (top-k by val top-1 or last-k,
raw or EMA), no optimizer state, metadata kept, written atomically, and loadable by validate.py."""
import importlib.util
import json
import os

import numpy as np
import pytest

import mindspore as ms
from mindspore import Tensor

import validate
from conftest import ROOT
from test_validate import COMMON, NUM_CLASSES, make_dataset, random_model, save_training_checkpoint

ms.set_device("CPU")  # before any kernel runs: lets validate.main() set it again in-process


def load_tool():
    """tools/avg_checkpoints.py as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("avg_checkpoints", os.path.join(ROOT, "tools", "avg_checkpoints.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


avg = load_tool()

# epoch -> validation top-1 recorded in checkpoints.json: the best two are epochs 2 and 4, the last two 3 and 4
METRICS = {1: 40.0, 2: 75.0, 3: 60.0, 4: 70.0}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A training-run directory: four epoch checkpoints of differently randomised models and checkpoints.json."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    directory = tmp_path_factory.mktemp("run")
    records = []
    for epoch, metric in METRICS.items():
        name = f"mixnet_s-{epoch}_{epoch * 10}.ckpt"
        save_training_checkpoint(random_model(seed=10 + epoch), str(directory / name), ema_roll=epoch,
                                 extra_meta={"class_names": json.dumps([f"c{k}" for k in range(NUM_CLASSES)])})
        records.append({"file": name, "epoch": epoch, "step": epoch * 10, "metric": metric})
    (directory / "checkpoints.json").write_text(json.dumps(records))
    return directory


def weights(path, prefix="") -> dict:
    """Network weights of a checkpoint by plain name: the raw ones, or with ``prefix`` 'ema.' the EMA copies."""
    found = {}
    for name, value in ms.load_checkpoint(str(path)).items():
        if not isinstance(value, (ms.Parameter, Tensor)) or value.ndim == 0 or name == "global_step":
            continue
        if prefix and name.startswith(prefix):
            found[name[len(prefix):]] = value.asnumpy()
        elif not prefix and not name.startswith(("adam_m.", "ema.")):
            found[name] = value.asnumpy()
    return found


def expected_mean(run_dir, epochs, prefix="") -> dict:
    """Element-wise mean of the epochs' weights, computed directly."""
    parts = [weights(run_dir / f"mixnet_s-{e}_{e * 10}.ckpt", prefix) for e in epochs]
    return {name: np.mean([p[name].astype(np.float64) for p in parts], axis=0) for name in parts[0]}


def assert_average(path, expected) -> None:
    got = weights(path)
    assert set(got) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-6, atol=1e-7, err_msg=name)


def test_top_k_by_validation_accuracy(run_dir, tmp_path):
    out = tmp_path / "top2.ckpt"
    assert avg.main(["--input", str(run_dir), "-n", "2", "--output", str(out)]) == 0
    assert_average(out, expected_mean(run_dir, [2, 4]))
    raw = ms.load_checkpoint(str(out))
    assert not any(k.startswith(("adam_m.", "ema.")) or k == "global_step" for k in raw)  # weights only
    assert raw["model_name"] == "mixnet_s" and json.loads(raw["averaged_from"]) == ["mixnet_s-2_20.ckpt",
                                                                                  "mixnet_s-4_40.ckpt"]
    assert len(json.loads(raw["class_names"])) == NUM_CLASSES
    assert sorted(os.listdir(tmp_path)) == ["top2.ckpt"]  # written atomically: no temporary file left


def test_last_k_and_ema(run_dir, tmp_path):
    out = tmp_path / "last2.ckpt"
    assert avg.main(["--input", str(run_dir), "-n", "2", "--select", "last", "--output", str(out)]) == 0
    assert_average(out, expected_mean(run_dir, [3, 4]))
    out_ema = tmp_path / "ema3.ckpt"
    assert avg.main(["--input", str(run_dir), "-n", "3", "--select", "last", "--use_ema", "--output",
                     str(out_ema)]) == 0
    assert_average(out_ema, expected_mean(run_dir, [2, 3, 4], prefix="ema."))


def test_default_output_sits_in_the_run_and_validate_loads_it(run_dir, tmp_path):
    assert avg.main(["--input", str(run_dir), "-n", "3"]) == 0
    out = run_dir / "mixnet_s-avg.ckpt"
    assert_average(out, expected_mean(run_dir, [2, 3, 4]))
    root = make_dataset(str(tmp_path / "data"))
    result_file = tmp_path / "avg.json"
    assert validate.main(["--data_dir", root, "--ckpt_path", str(out), "--results_json", str(result_file)]
                         + COMMON) == 0
    with open(result_file, encoding="utf-8") as f:
        result = json.load(f)
    assert result["num_samples"] == 15 and result["settings"]["checkpoint"] == str(out)
    os.remove(out)


def test_errors_are_one_line(run_dir, tmp_path, capsys):
    def error(argv) -> str:
        assert avg.main(argv) == 2
        message = capsys.readouterr().err.strip()
        assert message.startswith("avg_checkpoints.py: error: ") and "\n" not in message
        return message

    assert "not a directory" in error(["--input", str(tmp_path / "nope")])
    (tmp_path / "empty").mkdir()
    assert "no epoch checkpoints" in error(["--input", str(tmp_path / "empty")])
    assert "not found" in error(["--files", str(tmp_path / "a.ckpt")])
    other = random_model(num_classes=5, seed=9)
    small = save_training_checkpoint(other, str(tmp_path / "five.ckpt"))
    message = error(["--files", str(run_dir / "mixnet_s-1_10.ckpt"), small, "--output", str(tmp_path / "x.ckpt")])
    assert "classifier." in message and "shape" in message
    no_metric = tmp_path / "nometric"
    no_metric.mkdir()
    os.link(run_dir / "mixnet_s-1_10.ckpt", no_metric / "mixnet_s-1_10.ckpt")
    assert "--select last" in error(["--input", str(no_metric), "--select", "top"])
    assert not (tmp_path / "x.ckpt").exists()
