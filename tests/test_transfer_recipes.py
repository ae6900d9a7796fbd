"""The transfer recipes (configs/mixnet/transfer/): MixNet-S and -M fine-tuned from their ImageNet weights on the
MixConv paper's transfer datasets, each with the reference fine-tuning's fixed budget of 19,531 steps of 256 images.
They parse once the dataset names exist (mindcv.choices.DATASETS: the datasets' branch adds them)."""
import glob
import os

import pytest

import config
from mindcv.choices import DATASETS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDER = os.path.join(ROOT, "configs", "mixnet", "transfer")
# classes and published training images (train + val where the publisher splits three ways)
PUBLISHED = {"cifar10": (10, 50000), "cifar100": (100, 50000), "flowers102": (102, 2040), "pets": (37, 3680)}
BUDGET = 19531 * 256  # Kornblith et al.'s fine-tuning: 19,531 steps of batch 256
RECIPES = [(model, name) for model in ("mixnet_s", "mixnet_m") for name in PUBLISHED]


def _path(model: str, name: str) -> str:
    return os.path.join(FOLDER, f"{model}_{name}.yaml")


def test_the_folder_holds_the_eight_recipes():
    assert sorted(glob.glob(os.path.join(FOLDER, "*.yaml"))) == sorted(_path(m, n) for m, n in RECIPES)


@pytest.mark.parametrize("model,name", RECIPES, ids=[f"{m}_{n}" for m, n in RECIPES])
def test_recipe_parses_with_the_reference_setup(caplog, model, name):
    if name not in DATASETS:
        pytest.skip(f"dataset {name!r} is not in mindcv.choices.DATASETS yet (the datasets' branch adds it)")
    args = config.parse_args(["-c", _path(model, name)])
    assert "no effect" not in caplog.text and "WARNING" not in caplog.text, caplog.text
    classes, train_images = PUBLISHED[name]
    assert (args.model, args.dataset, args.num_classes, args.pretrained) == (model, name, classes, True)
    assert args.dataset_download is name.startswith("cifar")
    # the reference's fine-tuning: SGD + Nesterov momentum 0.9 at a global batch of 256, its image budget
    assert (args.opt, args.use_nesterov, args.momentum, args.lr_base_batch) == ("momentum", True, 0.9, 256)
    assert args.epoch_size == args.decay_epochs and args.warmup_epochs == 0
    assert args.epoch_size - 1 < BUDGET / train_images <= args.epoch_size
    # crop and flip only, plain cross entropy, the weights' resolution and interpolation
    assert (args.auto_augment, args.color_jitter, args.re_prob, args.mixup, args.cutmix) == (None, None, 0, 0, 0)
    assert (args.loss, args.label_smoothing, args.image_resize, args.interpolation) == ("CE", 0, 224, "bicubic")
    assert args.crop_pct == (1.0 if name.startswith("cifar") else 0.875)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_s_and_m_recipes_differ_only_in_the_model(name):
    def lines(model):
        with open(_path(model, name), encoding="utf-8") as f:
            return [line.replace(model, "MODEL").replace({"mixnet_s": "MixNet-S", "mixnet_m": "MixNet-M"}[model],
                                                        "MODEL") for line in f]
    assert lines("mixnet_s") == lines("mixnet_m")
