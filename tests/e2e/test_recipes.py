"""MindCV's Ascend recipes parse and build their whole pipeline on CPU (no training step)."""
import glob
import os

import numpy as np
import pytest
from PIL import Image

import config
from mindcv.utils.distributed import DistInfo
from mindcv.engine import build_loaders, build_model, build_train_step, set_context

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECIPES = sorted(glob.glob(os.path.join(ROOT, "configs", "mixnet", "*_ascend.yaml")))


@pytest.fixture(scope="module")
def jpeg_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("imagenet_like")
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for cls in ("n01440764", "n01443537"):
            os.makedirs(root / split / cls)
            for i in range(4):
                pixels = rng.integers(0, 255, (75, 100, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / cls / f"{i}.JPEG", quality=90)
    return root


def test_there_are_three_recipes():
    assert [os.path.basename(r) for r in RECIPES] == ["mixnet_l_ascend.yaml", "mixnet_m_ascend.yaml",
                                                      "mixnet_s_ascend.yaml"]


@pytest.mark.parametrize("recipe", RECIPES, ids=os.path.basename)
def test_recipe_builds_its_pipeline_on_cpu(recipe, jpeg_folder, tmp_path):
    args = config.parse_args(["-c", recipe, "--data_dir", str(jpeg_folder), "--batch_size", "2",
                              "--ckpt_save_dir", str(tmp_path), "--num_parallel_workers", "1"])
    assert args.distribute is True and args.epoch_size == 600 and args.amp_level == "O3"
    given = vars(args).copy()
    args = set_context(args)
    assert args.device_target == "CPU" and args.jit_level == "O0" and args.dataset_sink_mode is False
    assert given["dataset_sink_mode"] is True and given["jit_level"] is None  # the user's config is left alone
    data = build_loaders(args, DistInfo())
    assert data.num_classes == 1000 and data.steps_per_epoch == 4
    images, labels = next(data.make_train_loader(0).create_tuple_iterator(num_epochs=1))
    assert images.shape == (2, 3, 224, 224)
    assert labels.shape == (2, 1000) and np.allclose(labels.asnumpy().sum(axis=1), 1.0)  # mixup on: soft labels
    val_images, _ = next(data.make_val_loader())
    assert val_images.shape == (2, 3, 224, 224)
    model = build_model(args, data.num_classes)
    parts = build_train_step(args, model, data, DistInfo())
    assert len(parts.lr_schedule) == 600 * 4
    warmup_steps = args.warmup_epochs * 4
    assert parts.lr_schedule[warmup_steps] == pytest.approx(args.lr, rel=1e-3)
    assert parts.lr_schedule[-1] == pytest.approx(args.min_lr, rel=0.05)
    assert float(parts.train_step.scale_sense.asnumpy()) == args.loss_scale


# --- the recipe's train step on CPU, as Ascend would build it -----------------------------------------------------
# What CPU can check of the Ascend recipes: the full train step (mixconv_impl fused, what `auto` picks on Ascend;
# the recipe's AMP level O3 in float16, loss scale and optimizer) compiles in graph mode and trains. Full width
# (compile time does not depend on it), 32x32 images, batch 2. One graph compilation per recipe (~25 s on 2 cores),
# so two recipes, one per loss-scale type: mixnet_s (fixed) and mixnet_l (dynamic). mixnet_m's step adds no
# coverage: its recipe differs from mixnet_s's in the model, the (fixed) loss-scale value and the dropout rate
# only, and mixnet_l is mixnet_m at width 1.3 (tests/models/test_mixnet.py), the same graph but for the widths.
# mixnet_m's recipe still parses and builds its whole pipeline above.
TRAIN_STEP_RECIPES = [r for r in RECIPES if os.path.basename(r) != "mixnet_m_ascend.yaml"]


def test_train_step_recipes_cover_both_loss_scale_types():
    kinds = {os.path.basename(r): config.parse_args(["-c", r]).loss_scale_type for r in TRAIN_STEP_RECIPES}
    assert kinds == {"mixnet_l_ascend.yaml": "dynamic", "mixnet_s_ascend.yaml": "fixed"}, kinds


@pytest.mark.parametrize("recipe", TRAIN_STEP_RECIPES, ids=os.path.basename)
def test_recipe_train_step_compiles_and_trains_on_cpu(recipe, tmp_path):
    import mindspore as ms
    from mindspore import Tensor

    from mindcv.engine.build import DataBundle
    from mindcv.models.layers.mixconv import MixConv2d

    args = config.parse_args(["-c", recipe, "--batch_size", "2", "--image_resize", "32", "--mixconv_impl", "fused",
                              "--ckpt_save_dir", str(tmp_path), "--num_parallel_workers", "1", "--mode", "0"])
    args = set_context(args)
    assert args.amp_level == "O3" and args.amp_dtype == "float16" and args.jit_level == "O0"
    model = build_model(args, 1000)
    impls = [(len(c.kernel_sizes), c.impl) for _, c in model.cells_and_names() if isinstance(c, MixConv2d)]
    assert impls and all(impl == ("fused" if groups > 1 else "split") for groups, impl in impls), impls
    data = DataBundle(None, None, 4, 1000, [], True)
    step = build_train_step(args, model, data, DistInfo()).train_step
    assert step.jit_config_dict["jit_level"] == "O0"  # attached to the compiled cell (no set_context jit_config)
    rng = np.random.default_rng(0)
    images = Tensor(rng.standard_normal((2, 3, 32, 32)).astype(np.float32))
    labels = Tensor(np.eye(1000, dtype=np.float32)[[3, 7]])
    before = {p.name: p.asnumpy().copy() for p in model.trainable_params()}
    scales = []
    step.set_train(True)
    for _ in range(3):
        loss, overflow, scale, _ = step(images, labels)
        assert np.isfinite(float(loss.asnumpy())), recipe
        scales.append((bool(overflow.asnumpy()), float(scale.asnumpy())))
    changed = any(not np.array_equal(before[p.name], p.asnumpy()) for p in model.trainable_params())
    if args.loss_scale_type == "dynamic":  # mixnet_l: 2^24 overflows float16 and is halved until it fits
        assert scales[0][0] and scales[1][1] < scales[0][1], scales
    else:
        assert changed and not any(o for o, _ in scales), scales
