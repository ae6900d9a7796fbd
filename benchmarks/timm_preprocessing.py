"""How close our eval transform is to timm's on real photographs, and what the gap does to a model.

timm's eval pipeline for a 224 model (crop_pct 0.875, bicubic) is, on a PIL image: resize the short
side to floor(224 / 0.875) = 256 with PIL's bicubic (antialiased), centre crop 224 with torchvision's
offsets (round((W - 224) / 2), half to even), ToTensor, Normalize(ImageNet mean / std). It is
reproduced here with PIL and numpy (``timm_eval_tensor``); no timm or torch is needed.

Ours is ``create_transforms("imagenet", 224, is_training=False, interpolation=..., crop_pct=0.875)``
applied to the encoded file. For each interpolation name the script prints the mean / max absolute
difference of the normalised tensors, and for a model (random weights unless --checkpoint is given)
the top-1 agreement and the logit difference between the two pipelines, next to the logit spread
between different photos (the signal the difference should be small against).

Photos: scikit-learn's china.jpg and flower.jpg, plus scikit-image's colour photos when its data
folder is found (on sys.path or in $TORCH_PEER_PATH).

    python benchmarks/timm_preprocessing.py                           # ~30 s
    python benchmarks/timm_preprocessing.py --model tf_mixnet_s --checkpoint tf_mixnet_s-xxxxxxxx.ckpt
"""
import argparse
import math
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple

os.environ.setdefault("GLOG_v", "3")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
                  "hubble_deep_field.jpg", "retina.jpg")
DEFAULT_PEER = os.path.expanduser("~/.cache/mixnet-ms/peers/torch-geffnet")


def sklearn_photos() -> List[str]:
    """The two JPEG photographs scikit-learn ships (china.jpg, flower.jpg)."""
    import sklearn.datasets

    folder = os.path.join(os.path.dirname(sklearn.datasets.__file__), "images")
    return [os.path.join(folder, name) for name in ("china.jpg", "flower.jpg")]


def skimage_photos(search: Sequence[str] = ()) -> List[str]:
    """scikit-image's colour photographs, found in its data folder on ``search`` + sys.path (none if absent)."""
    roots = list(search) + [os.environ.get("TORCH_PEER_PATH", DEFAULT_PEER)] + sys.path
    for root in roots:
        folder = os.path.join(root or ".", "skimage", "data")
        if os.path.isdir(folder):
            return [os.path.join(folder, n) for n in SKIMAGE_PHOTOS if os.path.isfile(os.path.join(folder, n))]
    return []


def photos() -> List[str]:
    """All real photographs available here."""
    return sklearn_photos() + skimage_photos()


def resized_size(width: int, height: int, short: int) -> Tuple[int, int]:
    """(width, height) after resizing the short side to ``short`` (torchvision: long = int(short * long / s))."""
    if width <= height:
        return short, int(short * height / width)
    return int(short * width / height), short


def centre_offsets(width: int, height: int, crop: int, rounding: str = "half_even") -> Tuple[int, int]:
    """(left, top) of a centre crop: torchvision's round((size - crop) / 2) with Python's round (half to
    even), or ``rounding="floor"`` (MindSpore's CenterCrop)."""
    if rounding == "floor":
        return (width - crop) // 2, (height - crop) // 2
    if rounding != "half_even":
        raise ValueError(f"rounding must be 'half_even' or 'floor', got {rounding!r}")
    return int(round((width - crop) / 2.0)), int(round((height - crop) / 2.0))


def timm_eval_tensor(path: str, size: int = 224, crop_pct: float = 0.875, rounding: str = "half_even") -> np.ndarray:
    """timm's eval tensor (CHW float32, normalised) of an image file, with PIL and numpy.

    ``rounding="floor"`` moves the centre crop to MindSpore's offsets (not timm's; for diagnostics).
    """
    image = Image.open(path).convert("RGB")
    image = image.resize(resized_size(*image.size, int(math.floor(size / crop_pct))), Image.BICUBIC)
    left, top = centre_offsets(*image.size, size, rounding)
    image = image.crop((left, top, left + size, top + size))
    array = np.asarray(image, dtype=np.float32) / 255.0
    return ((array - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)


def torchvision_centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    """An HWC array cropped at torchvision's centre-crop offsets."""
    left, top = centre_offsets(image.shape[1], image.shape[0], size)
    return image[top:top + size, left:left + size]


def ours_eval_tensor(path: str, interpolation: str = "bicubic", size: int = 224, crop_pct: float = 0.875,
                     torchvision_crop: bool = False) -> np.ndarray:
    """Our eval transform (create_transforms, decode included) applied eagerly to the file's bytes.

    ``torchvision_crop`` swaps its CenterCrop for torchvision's offsets (a diagnostic of what that op costs).
    """
    from mindspore.dataset import vision

    from mindcv.data import create_transforms

    image = np.fromfile(path, dtype=np.uint8)
    for op in create_transforms(dataset_name="imagenet", image_resize=size, is_training=False,
                                interpolation=interpolation, crop_pct=crop_pct):
        image = torchvision_centre_crop(image, size) if torchvision_crop and isinstance(op, vision.CenterCrop) \
            else op(image)
    return np.asarray(image, dtype=np.float32)


def tensor_differences(paths: Sequence[str], interpolation: str, torchvision_crop: bool = False) -> Dict[str, float]:
    """Mean and max |ours - timm| over the photos, and the worst photo's mean."""
    per_photo = [np.abs(ours_eval_tensor(p, interpolation, torchvision_crop=torchvision_crop) - timm_eval_tensor(p))
                 for p in paths]
    return {"mean_abs": float(np.mean([d.mean() for d in per_photo])),
            "max_abs": float(max(d.max() for d in per_photo)),
            "worst_photo_mean_abs": float(max(d.mean() for d in per_photo))}


def randomize(model, seed: int = 0) -> None:
    """Random weights whose signal survives the depth: convs normal(0, sqrt(2 / fan_out)) with the fan-out
    of one group (as timm / TF initialise them; MindCV's fan-out of all channels makes a random model's
    depthwise convs shrink the signal until its logits no longer depend on the input), random BN."""
    import mindspore as ms
    from mindspore import nn

    rng = np.random.default_rng(seed)
    for _, cell in model.cells_and_names():
        if isinstance(cell, nn.Conv2d):
            fan_out = cell.kernel_size[0] * cell.kernel_size[1] * cell.out_channels // cell.group
            cell.weight.set_data(ms.Tensor(rng.normal(0, math.sqrt(2.0 / fan_out), cell.weight.shape), ms.float32))
        elif isinstance(cell, nn.BatchNorm2d):
            n = cell.num_features
            cell.moving_mean.set_data(ms.Tensor(rng.normal(0, 0.1, n), ms.float32))
            cell.moving_variance.set_data(ms.Tensor(rng.uniform(0.5, 1.5, n), ms.float32))
            cell.gamma.set_data(ms.Tensor(1 + rng.normal(0, 0.1, n), ms.float32))
            cell.beta.set_data(ms.Tensor(rng.normal(0, 0.1, n), ms.float32))


def build_model(model_name: str, checkpoint: Optional[str] = None, seed: int = 0):
    """The model in eval mode: converted / trained weights, or seeded random weights (``randomize``)."""
    import mindspore as ms

    from mindcv.models import create_model

    ms.set_context(mode=ms.PYNATIVE_MODE)
    ms.set_seed(seed)
    model = create_model(model_name, checkpoint_path=checkpoint or "")
    if not checkpoint:
        randomize(model, seed)
    model.set_train(False)
    return model


def logits_of(model, batch: np.ndarray) -> np.ndarray:
    """Logits of a NCHW float32 batch."""
    import mindspore as ms

    return model(ms.Tensor(batch)).asnumpy()


def model_agreement(model, paths: Sequence[str], interpolation: str, torchvision_crop: bool = False
                    ) -> Dict[str, float]:
    """Top-1 agreement and logit differences of ``model`` between our and timm's preprocessing."""
    ours = logits_of(model, np.stack([ours_eval_tensor(p, interpolation, torchvision_crop=torchvision_crop)
                                      for p in paths]))
    ref = logits_of(model, np.stack([timm_eval_tensor(p) for p in paths]))
    between = [np.abs(ref[i] - ref[j]).mean() for i in range(len(paths)) for j in range(i + 1, len(paths))]
    return {"top1_agree": float(np.mean(ours.argmax(1) == ref.argmax(1))),
            "distinct_top1_timm": int(len(set(ref.argmax(1).tolist()))),
            "logit_mean_abs_diff": float(np.abs(ours - ref).mean()),
            "logit_max_abs_diff": float(np.abs(ours - ref).max()),
            "logit_mean_abs_between_photos": float(np.mean(between)) if between else float("nan")}


def main(argv: Optional[List[str]] = None) -> int:
    """Print tensor and model differences for each interpolation name."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--interpolation", nargs="+", default=["bicubic", "pilcubic"])
    parser.add_argument("--model", default="timm_mixnet_s")
    parser.add_argument("--checkpoint", default=None, help="converted checkpoint (default: random weights)")
    parser.add_argument("--images", nargs="*", default=None, help="image files (default: the shipped photos)")
    parser.add_argument("--no-crop-diagnostic", dest="crop_diagnostic", action="store_false",
                        help="skip the rows with torchvision's centre-crop offsets swapped in")
    args = parser.parse_args(argv)
    paths = args.images or photos()
    print(f"{len(paths)} photos: {', '.join(os.path.basename(p) for p in paths)}")
    model = build_model(args.model, args.checkpoint)
    weights = args.checkpoint or "random weights, random BN statistics"
    rows = [(i, False) for i in args.interpolation] + ([(i, True) for i in args.interpolation]
                                                       if args.crop_diagnostic else [])
    for interpolation, tv_crop in rows:
        tensors = tensor_differences(paths, interpolation, tv_crop)
        agreement = model_agreement(model, paths, interpolation, tv_crop)
        label = interpolation + (" + torchvision's crop offsets (diagnostic)" if tv_crop else "")
        print(f"interpolation={label}: tensors |ours - timm| mean {tensors['mean_abs']:.5f} "
              f"(worst photo {tensors['worst_photo_mean_abs']:.5f}), max {tensors['max_abs']:.4f}")
        print(f"  {args.model} ({weights}): top-1 agreement {agreement['top1_agree'] * 100:.1f} % "
              f"({agreement['distinct_top1_timm']} distinct top-1 classes over {len(paths)} photos), logits "
              f"|diff| mean {agreement['logit_mean_abs_diff']:.5f} max {agreement['logit_max_abs_diff']:.5f}; "
              f"between photos {agreement['logit_mean_abs_between_photos']:.5f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
