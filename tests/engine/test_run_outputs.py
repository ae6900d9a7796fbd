"""A run's own folder: a new run never overwrites another one's files; curves.png drawn from metrics.csv."""
import os

import numpy as np
import pytest

from mindcv.engine.checkpoint_manager import check_new_run_dir
from mindcv.engine.curves import write_curves
from mindcv.utils.cli import ConfigError


@pytest.mark.parametrize("name", ["config.yaml", "metrics.csv", "checkpoints.json", "mixnet_s-3_22.ckpt",
                                  "mixnet_s-best.ckpt"])
def test_a_folder_with_another_run_is_refused_with_both_ways_out(tmp_path, name):
    (tmp_path / name).write_text("x")
    with pytest.raises(ConfigError) as err:
        check_new_run_dir(str(tmp_path), resume="")
    message = str(err.value)
    assert str(tmp_path) in message and name in message
    assert "--ckpt_save_dir" in message and "--resume auto" in message
    check_new_run_dir(str(tmp_path), resume="auto")  # continuing that run is fine


def test_new_or_unrelated_folders_are_accepted(tmp_path):
    check_new_run_dir(str(tmp_path / "not_yet"), resume="")
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "data").mkdir()
    check_new_run_dir(str(tmp_path), resume="")


def test_curves_png_is_a_real_picture(tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image

    csv_path = tmp_path / "metrics.csv"
    csv_path.write_text("epoch,step,loss,lr,images_per_sec,epoch_seconds,val_top1,val_top5,val_loss\n"
                        "1,10,2.3,0.001,50,3,20.0,60.0,2.1\n2,20,1.5,0.002,50,3,,,\n3,30,0.9,0.0005,50,3,70.5,95.0,1.0\n")
    out = write_curves(str(csv_path))
    assert out == str(tmp_path / "curves.png")
    image = np.asarray(Image.open(out).convert("L"))
    assert image.shape[1] > 800 and image.shape[0] > 250
    assert image.std() > 10 and (image < 128).mean() > 0.005  # lines and text drawn, not a blank canvas
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]  # no temporary file left


def test_curves_without_matplotlib_say_so_once(tmp_path, monkeypatch, caplog):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    from mindcv.engine import curves

    monkeypatch.setattr(curves, "_warned", [])
    csv_path = tmp_path / "metrics.csv"
    csv_path.write_text("epoch,loss,lr\n1,2.0,0.1\n")
    assert write_curves(str(csv_path)) is None and write_curves(str(csv_path)) is None
    assert caplog.text.count("matplotlib is not installed") == 1
    assert not (tmp_path / "curves.png").exists()


def test_lr_scales_linearly_to_the_global_batch(caplog):
    from mindcv.engine.build import scaled_lr

    assert scaled_lr(0.2, None, 256) == 0.2  # off by default: MindCV's semantics
    assert scaled_lr(0.2, 1024, 256) == pytest.approx(0.05)  # 2 devices x 128 for a recipe made for 8 x 128
    assert "lr 0.2 is for a global batch of 1024; this run's global batch is 256: lr 0.05" in caplog.text
