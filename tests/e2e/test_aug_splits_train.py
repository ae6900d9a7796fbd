"""train.py with aug_splits and the jsd loss: two PyNative steps on a tiny image folder (mixup on as well)."""
import math
import re

from conftest import ROOT, run_script
from tests.data.folders import write_folder


def test_two_pynative_steps_with_jsd_and_three_views(tmp_path, script_env):
    data = write_folder(str(tmp_path / "data"), {"train": 2})  # 3 classes x 2 images: 2 steps of 3
    result = run_script(["train.py", "--mode", "1", "--dataset", "folder", "--data_dir", data, "--image_resize", "16",
                         "--batch_size", "3", "--epoch_size", "1", "--aug_splits", "3", "--loss", "jsd",
                         "--label_smoothing", "0.1", "--auto_augment", "randaug-m9-mstd0.5", "--re_prob", "0.25",
                         "--mixup", "0.2", "--cutmix_prob", "1.0", "--val_while_train", "False", "--opt", "momentum",
                         "--lr", "0.001", "--warmup_epochs", "0", "--log_interval", "1", "--num_parallel_workers", "1",
                         "--ckpt_save_dir", str(tmp_path / "run")], script_env, ROOT)
    log = result.stdout + result.stderr
    assert "each image in 3 views (aug_splits): 9 rows per device step" in log
    losses = [float(v) for v in re.findall(r"step \d/2 loss (\S+)", log)]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses), log[-2000:]
    assert "finished 1 epochs" in log and (tmp_path / "run" / "mixnet_s-1_2.ckpt").is_file()
