"""MindCV's own recipes (mindspore-lab/mindcv configs/, 179 files at HEAD 51b0636) with ``model: mixnet_s`` put in:
every option value they use parses here without a 'no effect' warning, and every value of every group of options
that changes a training step trains 2 steps on CPU (PyNative, 16x16 images, batch 2) through train.py's build
functions (build_loaders, build_model, build_train_step), the network swapped for a small conv-BN-dense one: in
PyNative a step costs about 4-8 s of CPU per hundred parameter tensors (the optimizer, EMA and loss scale act per
tensor), whatever their size, and what these values change does not depend on the network. mixnet_s itself
(slimmed: ``small_mixnet``) trains once with MindCV's most common precision, amp_level O2 (116 recipes).

MindCV's files are not in this repository. ``tools/mindcv_recipes.py --git-dir <mindcv>/.git --rev 51b0636
--table`` reads them and prints the table below: the distinct values of each option group (values reduced to what
changes the computation, e.g. a probability to on/off; the number of recipes using each in comments), and the
values of the other options (their range for numbers). It also counts the recipes: 179 accepted, 0 refused, none
with a 'no effect' warning.

Groups are independent of each other, so run k takes the k-th value of every group (cycling): 6 training runs
cover the values of the groups that change the step (the largest, the optimizers, has 6; the 7 schedules, a
per-step list of learning rates, are all computed, 6 of them trained), 9 loader runs those of the data pipeline
(the largest, auto_augment, has 9).
"""
import importlib.util
import os

import numpy as np
import pytest

import config
from tests.data.folders import write_folder

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location("mindcv_recipes", os.path.join(ROOT, "tools", "mindcv_recipes.py"))
recipes_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(recipes_tool)

# group: distinct values (in the order of recipes_tool.GROUPS[group]), from the tool's --table output
RECIPE_GROUPS = {
    "optimizer": [("momentum", False), ("adamw", False), ("rmsprop", False), ("sgd", False), ("sgd", True),
                  ("lion", False)],  # 97, 56, 11, 8, 5, 2
    "decay_filter": [("disable",), ("auto",), ("norm_and_bias",)],  # 164, 12, 3
    "schedule": [("cosine_decay", False, False), ("warmup_cosine_decay", False, False), ("cosine_decay", True, False),
                 ("multi_step_decay", False, False), ("cosine_decay", False, True), ("warmup_cosine_decay", True, True),
                 ("step_decay", False, False)],  # 137, 24, 11, 3, 2, 1, 1
    "loss": [("CE", True, False), ("CE", True, True)],  # 178, 1
    "amp": [("O2",), ("O3",), ("O0",)],  # 116, 39, 24
    "loss_scale": [("fixed", False), ("dynamic", True), ("auto", False), ("fixed", True)],  # 126, 33, 16, 4
    "augment": [(None, "number"), ("randaug-m9-mstd0.5-inc1", "ignored"), ("randaug-m9-mstd0.5", "ignored"),
                ("autoaug", "ignored"), (None, "list of 3"), ("randaug-m7-mstd0.5", "ignored"),
                ("randaug-m7-mstd0.5-inc1", "ignored"), ("autoaug-mstd0.5", "ignored"),
                ("randaug-m9-n2-mstd0.5-inc1", "ignored")],  # 101, 35, 14, 10, 6, 4, 4, 4, 1
    "interpolation": [("bilinear", False), ("bicubic", False)],  # 97, 82
    "erasing": [(False, "-"), (True, "number"), (True, "random")],  # 86, 73, 20
    "mixing": [(False, False, False), (True, True, True), (True, False, True)],  # 116, 55, 8
    "step": [(False, False, False), (True, False, False), (True, False, True)],  # 170, 8, 1
    "repeats": [(0,), (3,)],  # 173, 6
}
STEP_GROUPS = ("optimizer", "decay_filter", "schedule", "loss", "amp", "loss_scale", "step")
TRAINING_RUNS = 6
DATA_GROUPS = ("augment", "interpolation", "erasing", "mixing", "repeats")
# the other options: each distinct value, or the smallest and largest number (first: the low recipe, last: the high)
OTHER_VALUES = {
    "batch_size": [16, 512], "ckpt_save_interval": [1], "ckpt_save_policy": ["latest_k", "top_k"],
    "crop_pct": [0.87, 1.15], "cycle_decay": [1.0], "dataset": ["imagenet"], "dataset_download": [False],
    "dataset_sink_mode": [True], "decay_epochs": [30, 590], "decay_rate": [0.01, 0.5], "distribute": [True],
    "drop_path_rate": [0.0, 0.5], "drop_rate": [0.0, 0.25], "drop_remainder": [True], "ema_decay": [0.9995, 0.99996],
    "epoch_size": [3, 1200], "eps": ["1e-8", "1e-3"], "hflip": [0.5], "image_resize": [224, 299], "in_channels": [3],
    "keep_checkpoint_max": [5, 100], "log_interval": [100], "loss_scale": [128.0, 16777216.0],
    "lr": [0.00025, 1.08], "min_lr": [0.0, 0.0001], "mode": [0], "momentum": [0.9],
    "multi_step_decay_milestones": [[30, 40, 50, 60, 70, 80, 85]], "num_classes": [1000, 1001],
    "num_parallel_workers": [8, 16], "pretrained": [False], "ratio": [[0.75, 1.33], [0.75, 1.333]],
    "re_max_attempts": [1], "re_ratio": [[0.3, 3.333]], "scale": [[0.08, 1.0]], "seed": [1], "shuffle": [True],
    "train_split": ["train"], "val_amp_level": ["O2", "O3"], "val_interval": [1, 5], "val_split": ["val"],
    "val_while_train": [True], "warmup_epochs": [0, 40], "warmup_factor": [1.75e-05, 0.01],
    "weight_decay": [1e-05, 0.3],
}


def _value(group: str, k: int) -> tuple:
    values = RECIPE_GROUPS[group]
    return values[k % len(values)]


def _recipe_options(groups, k: int) -> dict:
    """YAML keys giving the k-th value of each group (the reduced values turned back into options)."""
    options = {}
    for group in groups:
        names, value = recipes_tool.GROUPS[group], _value(group, k)
        row = dict(zip(names, value))
        if group == "optimizer":
            options.update(opt=row["opt"], use_nesterov=row["use_nesterov"])
        elif group == "decay_filter":
            options.update(weight_decay_filter=row["weight_decay_filter"])
        elif group == "schedule":
            options.update(scheduler=row["scheduler"], lr_epoch_stair=row["lr_epoch_stair"],
                           num_cycles=2 if row["num_cycles"] else 1)
        elif group == "loss":
            options.update(loss=row["loss"], label_smoothing=0.1 if row["label_smoothing"] else 0.0,
                           aux_factor=0.1 if row["aux_factor"] else 0.0)
        elif group == "amp":
            options.update(amp_level=row["amp_level"])
        elif group == "loss_scale":
            options.update(loss_scale_type=row["loss_scale_type"], drop_overflow_update=row["drop_overflow_update"],
                           loss_scale=1024.0)
        elif group == "augment":
            jitter = {"number": 0.4, "list of 3": [0.4, 0.4, 0.4], "ignored": 0.4}[row["color_jitter"]]
            options.update(auto_augment=row["auto_augment"], color_jitter=jitter)
        elif group == "interpolation":
            options.update(interpolation=row["interpolation"], vflip=0.5 if row["vflip"] else 0.0)
        elif group == "erasing":
            options.update(re_prob=0.25 if row["re_prob"] else 0.0,
                           re_value="random" if row["re_value"] == "random" else 0)
        elif group == "mixing":
            options.update(mixup=0.8 if row["mixup"] else 0.0, cutmix=1.0 if row["cutmix"] else 0.0,
                           cutmix_prob=1.0 if row["cutmix_prob"] else 0.0)
        elif group == "step":
            options.update(ema=row["ema"], clip_grad=row["clip_grad"],
                           gradient_accumulation_steps=2 if row["gradient_accumulation_steps"] else 1)
        elif group == "repeats":
            options.update(aug_repeats=row["aug_repeats"])
    return options


def _parse(tmp_path, options: dict, caplog):
    """parse_args on a YAML recipe of ``options``, with no 'no effect' warning."""
    import yaml

    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(dict(options, model="mixnet_s")))
    caplog.clear()
    args = config.parse_args(["-c", str(path)])
    assert not [r.getMessage() for r in caplog.records if "no effect" in r.getMessage()]
    return args


def test_the_tables_hold_every_group_and_runs_cover_them():
    assert set(RECIPE_GROUPS) == set(recipes_tool.GROUPS) == set(STEP_GROUPS) | set(DATA_GROUPS)
    assert max(len(RECIPE_GROUPS[g]) for g in DATA_GROUPS) == 9
    assert max(len(RECIPE_GROUPS[g]) for g in STEP_GROUPS if g != "schedule") == TRAINING_RUNS
    for runs, groups in ((TRAINING_RUNS, STEP_GROUPS), (9, DATA_GROUPS)):
        for group in groups:
            covered = {_value(group, k) for k in range(runs)}
            assert covered == set(RECIPE_GROUPS[group]) or (group == "schedule" and len(covered) == runs)


@pytest.mark.parametrize("k", range(len(RECIPE_GROUPS["schedule"])))
def test_every_schedule_gives_its_learning_rates(tmp_path, caplog, k):
    from mindcv.scheduler import create_scheduler

    args = _parse(tmp_path, dict(BASE, **_recipe_options(["schedule"], k)), caplog)
    assert recipes_tool.group_values(args)["schedule"] == _value("schedule", k)
    lrs = create_scheduler(3, scheduler=args.scheduler, lr=args.lr, min_lr=args.min_lr,
                           warmup_epochs=args.warmup_epochs, warmup_factor=args.warmup_factor,
                           decay_epochs=args.decay_epochs, decay_rate=args.decay_rate,
                           milestones=args.multi_step_decay_milestones, num_epochs=args.epoch_size,
                           num_cycles=args.num_cycles, cycle_decay=args.cycle_decay, lr_epoch_stair=args.lr_epoch_stair)
    lrs = np.asarray(lrs)
    assert lrs.shape == (3 * args.epoch_size,) and np.isfinite(lrs).all() and lrs.max() == pytest.approx(args.lr)
    if args.lr_epoch_stair:  # one rate per epoch
        assert all(len(set(lrs[e * 3:(e + 1) * 3])) == 1 for e in range(args.epoch_size))


@pytest.mark.parametrize("end", [0, -1], ids=["low", "high"])
def test_other_values_parse_without_warning(tmp_path, caplog, end):
    args = _parse(tmp_path, {key: values[end] for key, values in OTHER_VALUES.items()}, caplog)
    for key, values in OTHER_VALUES.items():
        value = getattr(args, key)
        expected = values[end]
        if isinstance(expected, str) and key == "eps":
            expected = float(expected)  # PyYAML reads 1e-8 as a string; MindCV's argparse type=float converts it
        assert (list(value) if isinstance(value, (list, tuple)) else value) == expected, key


def test_crop_pct_above_one_is_mindcv_eval_transform():
    """volo_d4's crop_pct 1.15: resize to floor(224 / 1.15) = 194, centre crop 224 padded with zeros, as MindCV."""
    from mindspore.dataset.transforms import Compose

    from mindcv.data import create_transforms
    from tests.data.folders import jpeg_bytes
    from tests.mindcv_peer import load_peer_module

    peer = load_peer_module("data", "transforms_factory")
    image = np.frombuffer(jpeg_bytes(3, (300, 240)), np.uint8)
    ours = Compose(create_transforms("imagenet", 224, is_training=False, crop_pct=1.15, interpolation="bicubic"))
    theirs = Compose(peer.transforms_imagenet_eval(224, crop_pct=1.15, interpolation="bicubic"))
    out = ours(image)
    np.testing.assert_array_equal(out, theirs(image))
    assert out.shape == (3, 224, 224) and np.all(out[:, 0, :] == out[:, 0, :1])  # the padded border is uniform


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_folder(str(tmp_path_factory.mktemp("mindcv_recipes")), {"train": 2})  # 3 classes x 2 images


BASE = dict(dataset="folder", image_resize=16, batch_size=2, num_parallel_workers=1, mode=1, epoch_size=4,
            warmup_epochs=1, warmup_factor=0.01, decay_epochs=2, decay_rate=0.5, multi_step_decay_milestones=[1, 2],
            lr=0.001, val_while_train=False, seed=1)


@pytest.fixture
def small_mixnet(monkeypatch):
    """mixnet_s at width 0.25 with one block per stage: every kind of layer mixnet_s has (MixConv of 1-4 groups,
    two-group 1x1 convs, squeeze-excite, swish, BatchNorm, the head), 167 parameter tensors (249 in mixnet_s)."""
    import mindcv.engine.build as build
    from mindcv.models import create_model

    def create(name, **kwargs):
        return create_model(name, width_multiplier=0.25, repeat_multiplier=0.01, **kwargs)

    monkeypatch.setattr(build, "create_model", create)


@pytest.fixture
def small_network(monkeypatch):
    """build_model's network is a conv-BN-ReLU-dense stack (with MindSpore's cells, which amp_level casts)."""
    import mindspore as ms
    from mindspore import nn

    import mindcv.engine.build as build

    class Small(nn.Cell):
        def __init__(self, num_classes: int, in_channels: int) -> None:
            super().__init__()
            self.features = nn.SequentialCell([nn.Conv2d(in_channels, 8, 3, stride=2), nn.BatchNorm2d(8), nn.ReLU()])
            self.classifier = nn.Dense(8, num_classes)

        def construct(self, x):
            return self.classifier(self.features(x).mean(axis=(2, 3)))

    def create(name, num_classes=1000, in_channels=3, **kwargs):
        assert name == "mixnet_s"
        ms.set_seed(0)
        return Small(num_classes, in_channels)

    monkeypatch.setattr(build, "create_model", create)


@pytest.mark.parametrize("k", range(9))
def test_data_pipeline_values_give_batches(tmp_path, caplog, folder, k):
    from mindcv.engine import build_loaders
    from mindcv.utils.distributed import DistInfo

    args = _parse(tmp_path, dict(BASE, data_dir=folder, **_recipe_options(DATA_GROUPS, k)), caplog)
    values = recipes_tool.group_values(args)
    assert all(values[g] == _value(g, k) for g in DATA_GROUPS), values
    data = build_loaders(args, DistInfo())
    images, labels = next(data.make_train_loader(0).create_tuple_iterator(num_epochs=1, output_numpy=True))
    assert images.shape == (2, 3, 16, 16) and np.isfinite(images).all()
    mixed = values["mixing"][0]
    assert labels.shape == ((2, 3) if mixed else (2,))


def _train_two_steps(tmp_path, caplog, options: dict) -> None:
    """Parse ``options``, build the run as train.py does, train 2 steps: finite losses, and the weights updated
    unless a float16 overflow skipped the step (then the loss scale must allow it)."""
    import mindspore as ms

    from mindcv.engine import build_loaders, build_model, build_train_step, set_context
    from mindcv.utils.distributed import DistInfo

    args = set_context(_parse(tmp_path, options, caplog))
    ms.set_context(mode=ms.PYNATIVE_MODE)
    data = build_loaders(args, DistInfo())
    model = build_model(args, data.num_classes)
    step = build_train_step(args, model, data, DistInfo()).train_step
    step.set_train(True)
    before = {p.name: p.asnumpy().copy() for p in model.trainable_params()}
    results = []
    for images, labels in data.make_train_loader(0).create_tuple_iterator(num_epochs=1):
        loss, overflow, scale = step(images, labels)[:3]
        results.append((float(loss.asnumpy()), bool(overflow.asnumpy()), float(scale.asnumpy())))
        if len(results) == 2:
            break
    assert len(results) == 2 and all(np.isfinite(loss) for loss, _, _ in results), results
    changed = any(not np.array_equal(before[p.name], p.asnumpy()) for p in model.trainable_params())
    if any(overflow for _, overflow, _ in results):  # float16 overflow: the step is skipped, the scale lowered
        assert args.loss_scale_type in ("dynamic", "auto") or args.drop_overflow_update, results
    else:
        assert changed, results


@pytest.mark.parametrize("k", range(TRAINING_RUNS))
def test_training_step_values_train_two_steps(tmp_path, caplog, folder, small_network, k):
    options = dict(BASE, data_dir=folder, ckpt_save_dir=str(tmp_path / "run"), **_recipe_options(STEP_GROUPS, k),
                   **_recipe_options(DATA_GROUPS, k))
    assert all(recipes_tool.group_values(_parse(tmp_path, options, caplog))[g] == _value(g, k) for g in STEP_GROUPS)
    _train_two_steps(tmp_path, caplog, options)


def test_mixnet_s_trains_with_amp_o2(tmp_path, caplog, folder, small_mixnet):
    # split: the native CPU kernels (auto's choice on CPU) are float32-only under PyNative's float16 casts (graph
    # mode, the recipes' own mode, compiles the recipes' O3 step with them in tests/e2e/test_recipes.py)
    options = dict(BASE, data_dir=folder, ckpt_save_dir=str(tmp_path / "run"), amp_level="O2", opt="momentum",
                   loss_scale_type="dynamic", drop_overflow_update=True, loss_scale=1024.0, label_smoothing=0.1,
                   auto_augment="randaug-m9-mstd0.5-inc1", interpolation="bicubic", re_prob=0.25,
                   mixconv_impl="split")
    _train_two_steps(tmp_path, caplog, options)
