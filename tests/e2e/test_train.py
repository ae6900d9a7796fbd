"""train.py end to end on CPU: outputs, accuracy, the saved config, failures (resuming: test_train_recovery.py;
msrun: test_data_parallel_paths.py)."""
import csv
import os

from conftest import DEMO, DIGITS_RUN_ARGS, ROOT, run_script

# A tiny run: 256 digits, batch 32 (8 steps per epoch), no validation.
TINY = ["-c", DEMO, "--image_resize", "32", "--batch_size", "32", "--num_samples", "256", "--val_while_train",
        "False", "--drop_rate", "0", "--warmup_epochs", "1", "--decay_epochs", "1", "--log_interval", "4"]


def test_demo_run_writes_checkpoints_metrics_and_config(digits_run):
    files = os.listdir(digits_run)
    assert "mixnet_s-best.ckpt" in files and "config.yaml" in files and "train.log" in files
    epoch_ckpts = sorted(f for f in files if f.startswith("mixnet_s-") and f[9].isdigit())
    assert epoch_ckpts == ["mixnet_s-2_88.ckpt", "mixnet_s-3_132.ckpt"]  # keep_checkpoint_max 2
    with open(digits_run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    top1 = [float(r["val_top1"]) for r in rows]
    assert top1[-1] > 50.0 and top1[-1] > top1[0], top1  # 10 classes: chance is 10 % (3 short epochs)
    # precise BN (auto: 44 steps per epoch): validation means something from the first epoch (it sat at chance,
    # 9.6-10.2 %, with the lagging moving statistics); the training top-1 is recorded beside it
    assert top1[0] > 25.0, top1
    train_top1 = [float(r["train_top1"]) for r in rows]
    assert 0.0 <= train_top1[0] < train_top1[-1] <= 100.0, train_top1
    log = (digits_run / "stdout.log").read_text()
    assert "compiled in" in log and "rank 0 of 1;" in log
    assert log.count("precise BN: moving statistics of 49 BatchNorm layers recomputed over 10 training batches") == 3


def test_saved_config_reproduces_the_run(digits_run):
    import config

    saved = config.parse_args(["-c", str(digits_run / "config.yaml")])
    again = config.parse_args(["-c", DEMO, "--ckpt_save_dir", str(digits_run)] + DIGITS_RUN_ARGS)
    for key, value in vars(again).items():
        if key not in ("config", "explicit_options", "device_target", "jit_level", "dataset_sink_mode"):
            assert getattr(saved, key) == value, key


def test_unknown_recipe_key_is_named(tmp_path, script_env):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("model: mixnet_s\nlearning_rate: 0.1\n")
    result = run_script(["train.py", "-c", str(recipe)], script_env, ROOT, check=False)
    assert result.returncode == 2
    assert "learning_rate" in result.stderr and "did you mean 'lr'" in result.stderr and str(recipe) in result.stderr


def test_nan_loss_stops_with_epoch_and_step(tmp_path, script_env):
    # MobileNet-V1: the NaN check is the training loop's, and it compiles in a third of MixNet-S's time
    result = run_script(["train.py"] + TINY + ["--model", "mobilenet_v1", "--epoch_size", "1", "--opt", "sgd",
                                                "--lr", "1e30",
                                                "--warmup_epochs", "0", "--ckpt_save_dir", str(tmp_path)],
                        script_env, ROOT, check=False)
    assert result.returncode == 3
    assert "loss became nan at epoch 1, step" in result.stdout + result.stderr
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".ckpt")]
