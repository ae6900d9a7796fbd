"""train.py end to end on CPU: outputs, accuracy, resume equality, msrun data parallelism, failures."""
import csv
import os
import sys

import numpy as np
import pytest

import mindspore as ms

from conftest import DEMO, ROOT, free_port, run_script

# A tiny run: 256 digits, batch 32 (8 steps per epoch), no validation, no dropout (its random
# stream is not part of the saved state).
TINY = ["-c", DEMO, "--image_resize", "32", "--batch_size", "32", "--num_samples", "256", "--val_while_train",
        "False", "--drop_rate", "0", "--warmup_epochs", "1", "--decay_epochs", "1", "--log_interval", "4"]


def load(path):
    """Tensors of a checkpoint (metadata strings left out)."""
    return {k: v.asnumpy() for k, v in ms.load_checkpoint(str(path)).items() if hasattr(v, "asnumpy")}


def test_demo_run_writes_checkpoints_metrics_and_config(digits_run):
    files = os.listdir(digits_run)
    assert "mixnet_s-best.ckpt" in files and "config.yaml" in files and "train.log" in files
    epoch_ckpts = sorted(f for f in files if f.startswith("mixnet_s-") and f[9].isdigit())
    assert epoch_ckpts == ["mixnet_s-3_66.ckpt", "mixnet_s-4_88.ckpt"]  # keep_checkpoint_max 2
    with open(digits_run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    top1 = [float(r["val_top1"]) for r in rows]
    assert top1[-1] > 50.0 and top1[-1] > top1[0], top1  # 10 classes: chance is 10 % (4 short epochs)
    log = (digits_run / "stdout.log").read_text()
    assert "compiled in" in log and "rank 0 of 1;" in log


def test_saved_config_reproduces_the_run(digits_run):
    import config

    saved = config.parse_args(["-c", str(digits_run / "config.yaml")])
    again = config.parse_args(["-c", DEMO, "--ckpt_save_dir", str(digits_run), "--image_resize", "32",
                               "--epoch_size", "4", "--warmup_epochs", "1", "--decay_epochs", "3",
                               "--keep_checkpoint_max", "2", "--log_interval", "5"])
    for key, value in vars(again).items():
        if key != "config" and key not in ("device_target", "jit_level", "dataset_sink_mode"):
            assert getattr(saved, key) == value, key


def test_resumed_run_matches_an_uninterrupted_one(tmp_path, script_env):
    full, part = tmp_path / "full", tmp_path / "part"
    run_script(["train.py"] + TINY + ["--epoch_size", "2", "--ckpt_save_dir", str(full)], script_env, ROOT)
    run_script(["train.py"] + TINY + ["--epoch_size", "1", "--ckpt_save_dir", str(part)], script_env, ROOT)
    # the 1-epoch run is a 2-epoch run stopped after epoch 1 (warm-up spans epoch 1, so the learning rates
    # agree); resuming it with epoch_size 2 takes the schedule from the config and the state from the checkpoint
    result = run_script(["train.py"] + TINY + ["--epoch_size", "2", "--ckpt_save_dir", str(part), "--resume", "auto"],
                        script_env, ROOT)
    assert "continuing at epoch 2" in result.stdout
    a, b = load(full / "mixnet_s-2_16.ckpt"), load(part / "mixnet_s-2_16.ckpt")
    assert set(a) == set(b)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-4, atol=1e-5, err_msg=name)
    with open(part / "metrics.csv", newline="") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2]


def test_two_nodes_of_one_worker_end_with_identical_weights(tmp_path, script_env):
    """The README's multi-node commands, as two "nodes" on 127.0.0.1 with one CPU worker each: both exit 0."""
    import subprocess

    out, port = tmp_path / "dist", str(free_port())
    msrun = os.path.join(os.path.dirname(sys.executable), "msrun")
    env = {k: v for k, v in script_env.items() if not k.startswith("MS_COMPILER_CACHE")}
    nodes = []
    for node in (0, 1):
        cmd = [msrun if os.path.exists(msrun) else "msrun", "--worker_num", "2", "--local_worker_num", "1",
               "--node_rank", str(node), "--master_addr", "127.0.0.1", "--master_port", port,
               "--log_dir", str(out / "msrun_logs" / f"node{node}"), "--join", "True", "train.py"] + TINY + [
            "--epoch_size", "1", "--distribute", "True", "--ckpt_save_dir", str(out), "--num_parallel_workers", "1"]
        nodes.append(subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    outputs = [p.communicate(timeout=900)[0] for p in nodes]
    logs = {r: (out / "msrun_logs" / f"node{r}" / f"worker_{r}.log").read_text() for r in (0, 1)}
    assert [p.returncode for p in nodes] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:] + logs[0][-2000:]
    assert "rank 0 of 2;" in logs[0]  # (rank 1 logs warnings and errors only)
    # only rank 0 writes checkpoints; every rank logs a fingerprint of its final trainable weights
    # (BatchNorm statistics are per rank, as in MindCV: no synchronised BN)
    ckpts = [f for f in os.listdir(out) if f.endswith("_4.ckpt")]  # 256 images / 2 ranks / 32 = 4 steps
    assert ckpts == ["mixnet_s-1_4.ckpt"], os.listdir(out)
    assert "epoch 1/1" in logs[0] and "epoch 1/1:" not in logs[1]  # rank 1 logs no progress
    prints = [[line.split("fingerprint: ")[1].strip() for line in logs[r].splitlines() if "fingerprint: " in line]
              for r in (0, 1)]
    assert len(prints[0]) == 1 and prints[0] == prints[1], prints


def test_unknown_recipe_key_is_named(tmp_path, script_env):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("model: mixnet_s\nlearning_rate: 0.1\n")
    result = run_script(["train.py", "-c", str(recipe)], script_env, ROOT, check=False)
    assert result.returncode == 2
    assert "learning_rate" in result.stderr and "did you mean 'lr'" in result.stderr and str(recipe) in result.stderr


def test_nan_loss_stops_with_epoch_and_step(tmp_path, script_env):
    result = run_script(["train.py"] + TINY + ["--epoch_size", "1", "--opt", "sgd", "--lr", "1e30",
                                                "--warmup_epochs", "0", "--ckpt_save_dir", str(tmp_path)],
                        script_env, ROOT, check=False)
    assert result.returncode == 3
    assert "loss became nan at epoch 1, step" in result.stdout + result.stderr
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".ckpt")]
