"""What a validation run reports: the settings that decide its numbers, the numbers, and the results file."""
import json
from typing import Any, Dict

from ..data.transforms_factory import eval_resize_size
from ..utils.distributed import all_reduce_sum
from ..utils.io import check_writable, json_safe, write_json_atomic
from ..utils.logger import get_logger
from .weights import EvalError, Weights

logger = get_logger(__name__)

__all__ = ["eval_settings", "log_settings", "results_path", "check_bad_images", "report_results"]


def eval_settings(args, weights: Weights, index, dist, sha256: str) -> Dict[str, Any]:
    """Everything that decides the numbers: weights, data, transforms, precision, devices."""
    return {
        "model": args.model, "num_classes": weights.num_classes, "weights": weights.origin,
        "weights_format": weights.format, "quantization": weights.meta.get("quantization", "none"),
        "checkpoint": weights.path, "checkpoint_sha256": sha256, "ema": weights.ema,
        "dataset": args.dataset, "data_dir": index.root, "val_split": args.val_split, "val_labels": args.val_labels,
        "image_resize": args.image_resize, "resize": eval_resize_size(args.image_resize, args.crop_pct),
        "crop_pct": args.crop_pct, "interpolation": args.interpolation, "mean": list(args.mean),
        "std": list(args.std), "batch_size": args.batch_size,
        "amp_level": "exported file" if weights.exported else args.val_amp_level,
        "device_target": args.device_target, "mode": args.mode, "num_devices": dist.group_size,
        "config": args.config or None,
    }


def log_settings(settings: Dict[str, Any], num_images: int) -> None:
    """The resolved eval settings, one readable block."""
    kind = settings["weights_format"]
    if settings["quantization"] != "none":
        kind += " " + settings["quantization"]
    logger.info("evaluating %s (%d classes) with %s weights %s (%s, sha256 %s), EMA weights: %s",
                settings["model"], settings["num_classes"], settings["weights"], settings["checkpoint"], kind,
                settings["checkpoint_sha256"][:16] + "...", "yes" if settings["ema"] else "no")
    logger.info("data: %d images of %s split '%s' (%s), batch %d x %d device(s)", num_images, settings["dataset"],
                settings["val_split"], settings["data_dir"], settings["batch_size"], settings["num_devices"])
    logger.info("eval transforms: resize short side to %s (%s), centre crop %s (crop_pct %s), normalize mean %s "
                "std %s (0-255 scale); precision %s", settings["resize"], settings["interpolation"],
                settings["image_resize"], settings["crop_pct"], [round(v, 3) for v in settings["mean"]],
                [round(v, 3) for v in settings["std"]], settings["amp_level"])


def results_path(args, weights: Weights) -> str:
    """--results_json, else <checkpoint without .ckpt>.eval.json; checked to be writable."""
    if args.results_json:
        return check_writable(args.results_json, "--results_json")
    stem = weights.path[:-len(".ckpt")] if weights.path.endswith(".ckpt") else weights.path
    return check_writable(stem + ".eval.json", "--results_json (default: beside the checkpoint)")


def check_bad_images(index, dist) -> None:
    """Fail when image files could not be decoded: the loader counted a neighbour in their place."""
    for path, reason in index.bad_images.items():
        logger.error("cannot decode image %s: %s", path, reason)
    total = int(all_reduce_sum([len(index.bad_images)], dist)[0])
    if total:
        local = "; ".join(f"{path}: {reason}" for path, reason in list(index.bad_images.items())[:3])
        raise EvalError(f"{total} image file(s) could not be decoded ({local or 'on other ranks'}); the numbers "
                        f"counted a neighbouring image in their place and are not exact: replace or remove them")


def report_results(result: Dict[str, Any], settings: Dict[str, Any], path: str, topk: int) -> None:
    """Log the numbers, print the RESULT line and write the results JSON."""
    record = dict(result, topk=topk, settings=settings)
    logger.info("top-1 %.3f %%, top-%d %.3f %%, mean loss %.4f over %d images; %.1f images/s (%.1f s)",
                result["top1"], topk, result["top5"], result["loss"], result["num_samples"],
                result["images_per_sec"], result["seconds"])
    print("RESULT " + json.dumps(json_safe(record), sort_keys=True), flush=True)
    logger.info("results written to %s", write_json_atomic(path, record))
