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
