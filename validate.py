"""Top-1 / top-5 accuracy and mean loss of a checkpoint (or of the published weights) on a validation split.

    python validate.py -c configs/mixnet/mixnet_s_ascend.yaml --data_dir /path/to/imagenet --ckpt_path FILE
    python validate.py -c configs/mixnet/mixnet_s_ascend.yaml --data_dir /path/to/imagenet --pretrained True
    msrun --worker_num 8 --local_worker_num 8 python validate.py -c ... --ckpt_path FILE --distribute True

The recipe's eval transforms are used (image_resize, crop_pct, interpolation, mean, std). Under msrun every
rank evaluates a disjoint share of the images and the sums are added, so each image counts exactly once.
The result is printed, printed again as one ``RESULT {json}`` line, and written to a JSON file.

This module also holds what infer.py and export.py share with it: finding the weights (a checkpoint or
the published ones), building the model strictly from them, and the one-line error reporting.
"""
import json
import os
import sys
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import mindcv  # noqa: F401  (CPU start-up tuning before MindSpore loads)
from config import ConfigError, Option, ToolOptions, parse_args
from mindcv.utils.logger import get_logger

logger = get_logger("validate")

EMA_PREFIX = "ema."


class EvalError(RuntimeError):
    """A problem with the user's input (weights, data, options); reported as a one-line message."""


VALIDATE_TOOL = ToolOptions(
    prog="validate.py",
    description="Top-1 / top-5 accuracy and mean loss of a checkpoint on the validation split "
                "(the recipe's eval transforms; data-parallel under msrun with --distribute True)",
    title="Validation",
    options=(
        Option("results_json", "str", "", "write the results (accuracy, loss, images/s, checkpoint SHA-256, "
               "settings) to this JSON file; empty: <checkpoint without .ckpt>.eval.json"),
        Option("val_labels", "str", "", "labels of a flat val folder (images without class sub-folders): a "
               "text/CSV file with one '<image file> <class>' line per image, class = folder name/wnid "
               "or label index (LOC_val_solution.csv works as is)"),
    ),
)


# ----------------------------------------------------------------------------------------------
# shared with infer.py and export.py: errors, weights, model
# ----------------------------------------------------------------------------------------------

def user_errors() -> Tuple[type, ...]:
    """Exception types whose message is the whole story for the user (no traceback needed)."""
    from mindcv.data import DatasetError
    from mindcv.utils.checkpoint import CheckpointError

    return EvalError, CheckpointError, DatasetError, ConfigError, FileNotFoundError


def run_tool(prog: str, body: Callable[[Optional[Sequence[str]]], int], argv: Optional[Sequence[str]]) -> int:
    """Run a script's body; a user error becomes '<prog>: error: <message>' on stderr and exit status 2."""
    try:
        return body(argv)
    except user_errors() as err:
        message = str(err.args[0]) if isinstance(err, FileNotFoundError) and err.args else str(err)
        print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
        return 2


@dataclass
class Weights:
    """The weights to evaluate and what their checkpoint says about itself."""

    path: str
    origin: str  # "checkpoint" or "pretrained"
    params: Dict[str, Any]
    meta: Dict[str, Any]
    num_classes: int
    ema: bool
    has_ema: bool


def _pretrained_path(model: str) -> str:
    """The local file of the published weights of ``model`` (downloaded into the cache when missing)."""
    from mindcv.models import get_pretrained_cfg, is_model, list_models
    from mindcv.utils.download import DownloadError, download_url, get_checkpoint_dir

    if not is_model(model):
        raise EvalError(f"unknown model {model!r} (--model); registered models: {', '.join(list_models())}")
    cfg = get_pretrained_cfg(model) or {}
    if not cfg.get("url"):
        published = ", ".join(list_models(pretrained=True)) or "none"
        raise EvalError(f"no published weights for {model} (--pretrained True); models with published weights: "
                        f"{published}. Pass --ckpt_path FILE instead")
    try:
        return download_url(cfg["url"], root=get_checkpoint_dir(), sha256=cfg.get("sha256") or None)
    except DownloadError as err:
        raise EvalError(f"cannot fetch the published weights of {model}: {err}") from err


def _checkpoint_path(path: str) -> str:
    """``--ckpt_path`` checked: an existing file (a directory or a missing path is an error naming it)."""
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(path):
        found = sorted(f for f in os.listdir(path) if f.endswith(".ckpt"))
        hint = f"; checkpoints there: {', '.join(found[:6])}" if found else "; it holds no .ckpt file"
        raise EvalError(f"--ckpt_path {path} is a directory, expected a .ckpt file{hint}")
    if not os.path.isfile(path):
        raise EvalError(f"checkpoint file not found: {path} (--ckpt_path); nothing is evaluated with random weights")
    return path


def classifier_name(model: str) -> str:
    """Cell name of the model's classification head (``classifier`` for MixNet)."""
    from mindcv.models import get_pretrained_cfg

    return (get_pretrained_cfg(model) or {}).get("classifier", "classifier")


def _select_ema(params: Dict[str, Any], path: str, use_ema: bool) -> Dict[str, Any]:
    """The EMA weights under the plain names when asked (error when there are none), else the raw weights."""
    from mindcv.utils.checkpoint import select_ema

    has_ema = any(name.startswith(EMA_PREFIX) for name in params)
    if use_ema and not has_ema:
        raise EvalError(f"--ema True but {path} holds no EMA weights (no 'ema.*' entries: it was trained without "
                        f"--ema True or saved as weights only); run without --ema True")
    if use_ema:
        return select_ema(params, source=path)
    if has_ema:
        logger.info("%s also holds EMA weights; pass --ema True to evaluate those instead", path)
    return params


def resolve_weights(args) -> Weights:
    """The weights named by --ckpt_path or --pretrained, read and checked against --model and --num_classes."""
    from mindcv.utils.checkpoint import load_param_dict, read_checkpoint_meta

    if args.ckpt_path and args.pretrained:
        raise EvalError("give either --ckpt_path FILE or --pretrained True, not both")
    if not args.ckpt_path and not args.pretrained:
        raise EvalError(f"no weights given: pass --ckpt_path FILE (a checkpoint of train.py or "
                        f"tools/avg_checkpoints.py) or --pretrained True (the published weights of {args.model}); "
                        f"a randomly initialised model is never evaluated")
    path = _pretrained_path(args.model) if args.pretrained else _checkpoint_path(args.ckpt_path)
    raw = load_param_dict(path)
    meta = read_checkpoint_meta(path)
    recorded = meta.get("model_name")
    if isinstance(recorded, str) and recorded and recorded != args.model:
        raise EvalError(f"{path} holds weights of {recorded} (its model_name metadata) but --model is {args.model}: "
                        f"pass --model {recorded}")
    params = _select_ema(raw, path, bool(args.ema))
    head = f"{classifier_name(args.model)}.weight"
    if head not in params or len(params[head].shape) != 2:
        raise EvalError(f"{path} has no classifier weight '{head}': it is not a checkpoint of {args.model} "
                        f"(its first entries: {', '.join(list(params)[:4])})")
    num_classes = int(params[head].shape[0])
    if args.num_classes is not None and args.num_classes != num_classes:
        raise EvalError(f"--num_classes {args.num_classes} but the classifier of {path} has {num_classes} outputs; "
                        f"omit --num_classes (the trained head is never replaced here)")
    return Weights(path, "pretrained" if args.pretrained else "checkpoint", params, meta, num_classes,
                   bool(args.ema), any(name.startswith(EMA_PREFIX) for name in raw))


def hint_run_config(args, weights: Weights) -> None:
    """Point at the training run's config.yaml when the checkpoint has one and no -c was given."""
    run_config = os.path.join(os.path.dirname(weights.path), "config.yaml")
    if not getattr(args, "config", "") and os.path.isfile(run_config):
        logger.warning("no -c given: the run's configuration %s holds the eval settings the model was trained for "
                       "(image_resize, crop_pct, interpolation, mean, std); pass -c %s to use them",
                       run_config, run_config)


def _check_variant(model, weights: Weights) -> None:
    """Refuse a converted checkpoint whose recorded structure differs from the model (when the check exists)."""
    try:
        from mindcv.models.convert import check_variant
    except ImportError:
        return
    check_variant(model, weights.meta, weights.path)


def build_eval_model(args, weights: Weights, mixconv_impl: Optional[str] = None):
    """The model of --model with exactly the checkpoint's weights (every parameter present, shapes equal).

    ``mixconv_impl`` (default: --mixconv_impl) chooses how the MixConv layers run; the weights are the same.
    """
    import mindspore as ms

    from mindcv.models import create_model
    from mindcv.utils.checkpoint import load_model_weights

    try:
        model = create_model(args.model, num_classes=weights.num_classes, in_channels=args.in_channels,
                             drop_rate=args.drop_rate, drop_path_rate=args.drop_path_rate,
                             mixconv_impl=mixconv_impl or getattr(args, "mixconv_impl", None))
    except (ValueError, TypeError) as err:
        raise EvalError(f"cannot build --model {args.model}: {err}") from err
    _check_variant(model, weights)
    load_model_weights(model, weights.params, strict=True, source=weights.path)
    model.set_train(False)
    amp_level = getattr(args, "val_amp_level", "O0")
    if amp_level != "O0":
        ms.amp.auto_mixed_precision(model, amp_level)
    return model


def checkpoint_class_names(weights: Weights) -> Optional[List[str]]:
    """Class names stored in the checkpoint's ``class_names`` metadata (a JSON list), if any."""
    text = weights.meta.get("class_names")
    if not isinstance(text, str) or not text:
        return None
    try:
        names = json.loads(text)
    except ValueError:
        logger.warning("ignoring the class_names metadata of %s: not valid JSON", weights.path)
        return None
    if not isinstance(names, list) or len(names) != weights.num_classes:
        logger.warning("ignoring the class_names metadata of %s: not a list of %d names", weights.path,
                       weights.num_classes)
        return None
    return [str(name) for name in names]


def _json_safe(value: Any) -> Any:
    """NaN / infinity become None so the file is strict JSON; containers are converted recursively."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json_atomic(path: str, data: Any) -> str:
    """Write ``data`` as indented JSON so that ``path`` holds the old or the complete new file, never a part."""
    from mindcv.utils.io import atomic_write_text

    text = json.dumps(_json_safe(data), indent=1, sort_keys=True) + "\n"
    try:
        return atomic_write_text(path, text)
    except OSError as err:
        raise EvalError(f"cannot write {os.path.abspath(path)}: {err.strerror or err}; choose another file") from err


def check_writable(path: str, option: str) -> str:
    """``path`` made absolute, after checking its folder can be created and written (before any long work)."""
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(path):
        raise EvalError(f"{option} {path} is a directory; give a file name")
    directory = os.path.dirname(path)
    existing = directory
    while not os.path.isdir(existing):
        existing = os.path.dirname(existing)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise EvalError(f"{option} {path}: cannot write in {existing} (permission denied); choose another file")
    return path


def sha256_of(path: str) -> str:
    """SHA-256 hex digest of a file."""
    from mindcv.utils.download import file_digests

    return file_digests(path)["sha256"]


# ----------------------------------------------------------------------------------------------
# the validation split
# ----------------------------------------------------------------------------------------------

def _image_files(directory: str) -> List[str]:
    """Names of the image files directly inside ``directory`` (not in sub-folders)."""
    from mindcv.data.constants import IMAGE_EXTENSIONS

    return sorted(e.name for e in os.scandir(directory)
                  if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS) and not e.name.startswith("."))


def _has_class_folders(directory: str) -> bool:
    """True when ``directory`` has at least one non-hidden sub-folder."""
    return any(e.is_dir() and not e.name.startswith(".") for e in os.scandir(directory))


def _check_val_split(root: str, split: str) -> str:
    """The split directory, after explaining a missing split or a flat folder of images without classes."""
    if not root or not os.path.isdir(root):
        raise EvalError(f"dataset root {root!r} is not a directory (--data_dir); expected <root>/{split}/<class>/<image>")
    split_dir = os.path.join(root, split) if split else root
    if not os.path.isdir(split_dir):
        folders = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
        raise EvalError(f"no validation split: {split_dir} does not exist (--val_split {split!r}); folders in {root}: "
                        f"{folders or 'none'}. Pass --val_split <one of them> or a --data_dir holding {split}/")
    flat = _image_files(split_dir)
    if flat and not _has_class_folders(split_dir):
        raise EvalError(
            f"{split_dir} holds {len(flat)} images (e.g. {flat[0]}) directly, without class sub-folders, so their "
            f"labels are unknown. Either move each image into a folder named after its class "
            f"({split_dir}/<wnid>/<image>, e.g. with the ILSVRC2012 devkit ground truth or the widely used "
            f"valprep.sh), or pass --val_labels FILE listing '<image file> <class>' per line (class = wnid such as "
            f"n01440764, or a label index 0-999; Kaggle's LOC_val_solution.csv works as is)")
    return split_dir


def _read_labels_file(path: str) -> List[Tuple[str, str]]:
    """(image file name, class token) pairs from a labels file: '<file> <class>' lines or LOC_val_solution.csv."""
    if not os.path.isfile(path):
        raise EvalError(f"labels file not found: {path} (--val_labels)")
    pairs = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#") or line.lower().startswith("imageid"):
                continue
            name, _, rest = line.partition(",") if "," in line else line.partition(" ")
            tokens = rest.split()
            if not name.strip() or not tokens:
                raise EvalError(f"{path} line {number}: expected '<image file> <class>', got {line!r} (the devkit's "
                                f"ILSVRC2012_validation_ground_truth.txt uses the devkit's own class ids, not label "
                                f"indices: convert it to '<file> <wnid>' lines first)")
            pairs.append((name.strip(), tokens[0]))
    if not pairs:
        raise EvalError(f"labels file {path} has no '<image file> <class>' lines (--val_labels)")
    return pairs


def _label_order(tokens: Iterable[str], root: str, num_classes: int, known: Optional[List[str]]) -> List[str]:
    """Class names in label order for class tokens that are names (checkpoint metadata, train folders, ImageNet)."""
    from mindcv.data.imagenet_classes import IMAGENET_NUM_CLASSES, imagenet_wnids

    tokens = set(tokens)
    if known:
        return known
    train_dir = os.path.join(root, "train")
    if os.path.isdir(train_dir) and _has_class_folders(train_dir):
        from mindcv.data import get_class_names

        return get_class_names(root, "train")
    if num_classes == IMAGENET_NUM_CLASSES and tokens <= set(imagenet_wnids()):
        return imagenet_wnids()
    return sorted(tokens)


def labelled_index(args, num_classes: int, known_names: Optional[List[str]]):
    """A FolderIndex over a flat val folder whose labels come from --val_labels."""
    from mindcv.data import FolderIndex

    split_dir = args.data_dir if not args.val_split else os.path.join(args.data_dir, args.val_split)
    if not os.path.isdir(split_dir):
        raise EvalError(f"--val_labels given but the image folder {split_dir} (--data_dir/--val_split) does not exist")
    pairs = _read_labels_file(args.val_labels)
    files = _image_files(split_dir)
    by_name = {**{os.path.splitext(f)[0]: f for f in files}, **{f: f for f in files}}
    missing = [name for name, _ in pairs if name not in by_name]
    if missing:
        raise EvalError(f"{len(missing)} images listed in {args.val_labels} are not in {split_dir}, e.g. {missing[:3]}")
    unlabelled = sorted(set(files) - {by_name[name] for name, _ in pairs})
    if unlabelled:
        raise EvalError(f"{len(unlabelled)} images of {split_dir} have no line in {args.val_labels}, e.g. "
                        f"{unlabelled[:3]}: every image must be labelled")
    tokens = [token for _, token in pairs]
    if all(token.isdigit() for token in tokens):
        names = known_names or [str(i) for i in range(num_classes)]
        labels = [int(token) for token in tokens]
    else:
        names = _label_order(tokens, args.data_dir, num_classes, known_names)
        position = {name: i for i, name in enumerate(names)}
        unknown = sorted({t for t in tokens if t not in position})
        if unknown:
            raise EvalError(f"classes {unknown[:5]} of {args.val_labels} are not among the model's classes "
                            f"({names[:3]} ...)")
        labels = [position[token] for token in tokens]
    bad = [label for label in labels if not 0 <= label < num_classes]
    if bad:
        raise EvalError(f"label {bad[0]} in {args.val_labels} is outside the model's {num_classes} classes")
    samples = sorted((os.path.join(split_dir, by_name[name]), label) for (name, _), label in zip(pairs, labels))
    return FolderIndex(samples, list(names), args.data_dir, args.val_split)


def _folder_label_order(root: str, split: str, num_classes: int, known: Optional[List[str]]) -> Optional[List[str]]:
    """Label order for a folder split: the checkpoint's names, else ImageNet wnids for a wnid-only val tree of a
    1000-class model without a train folder, else None (the dataset's own rule: train's folders)."""
    from mindcv.data.imagenet_classes import IMAGENET_NUM_CLASSES, imagenet_wnids

    if known:
        return known
    split_dir = os.path.join(root, split) if split else root
    if os.path.isdir(os.path.join(root, "train")) or num_classes != IMAGENET_NUM_CLASSES:
        return None
    folders = {e.name for e in os.scandir(split_dir) if e.is_dir() and not e.name.startswith(".")}
    return imagenet_wnids() if folders and folders <= set(imagenet_wnids()) else None


def build_val_index(args, num_classes: int, known_names: Optional[List[str]]):
    """The validated file list of the validation split, labels in the model's class order."""
    from mindcv.data import FolderIndex
    from mindcv.data.dataset_factory import FOLDER_DATASET_NAMES

    is_folder = args.dataset.lower() in FOLDER_DATASET_NAMES
    if args.val_labels:
        if not is_folder:
            raise EvalError(f"--val_labels applies to image-folder datasets, not --dataset {args.dataset}")
        index = labelled_index(args, num_classes, known_names)
    else:
        order = None
        if is_folder:
            _check_val_split(args.data_dir, args.val_split)
            order = _folder_label_order(args.data_dir, args.val_split, num_classes, known_names)
        index = FolderIndex.scan(args.dataset, args.data_dir, args.val_split, class_names=order)
    if len(index.class_names) > num_classes:
        raise EvalError(f"the dataset has {len(index.class_names)} classes ({index.split_dir}) but the model's "
                        f"classifier has {num_classes} outputs: this checkpoint was not trained on these classes")
    if args.num_samples and args.num_samples < len(index):
        index = _subset(index, args.num_samples)
    return index


def _subset(index, count: int):
    """``count`` evenly spaced samples of ``index`` (every class represented when count allows)."""
    import numpy as np

    positions = np.unique(np.linspace(0, len(index) - 1, count).round().astype(int))
    logger.info("num_samples %d: evaluating an evenly spaced subset of the %d images", len(positions), len(index))
    return replace(index, samples=[index.samples[int(i)] for i in positions], bad_images={})


# ----------------------------------------------------------------------------------------------
# evaluation and report
# ----------------------------------------------------------------------------------------------

def eval_settings(args, weights: Weights, index, dist, sha256: str) -> Dict[str, Any]:
    """Everything that decides the numbers: weights, data, transforms, precision, devices."""
    from mindcv.data.transforms_factory import eval_resize_size

    return {
        "model": args.model, "num_classes": weights.num_classes, "weights": weights.origin,
        "checkpoint": weights.path, "checkpoint_sha256": sha256, "ema": weights.ema,
        "dataset": args.dataset, "data_dir": index.root, "val_split": args.val_split, "val_labels": args.val_labels,
        "image_resize": args.image_resize, "resize": eval_resize_size(args.image_resize, args.crop_pct),
        "crop_pct": args.crop_pct, "interpolation": args.interpolation, "mean": list(args.mean),
        "std": list(args.std), "batch_size": args.batch_size, "amp_level": args.val_amp_level,
        "device_target": args.device_target, "mode": args.mode, "num_devices": dist.group_size,
        "config": args.config or None,
    }


def log_settings(settings: Dict[str, Any], num_images: int) -> None:
    """The resolved eval settings, one readable block."""
    logger.info("evaluating %s (%d classes) with %s weights %s (sha256 %s), EMA weights: %s",
                settings["model"], settings["num_classes"], settings["weights"], settings["checkpoint"],
                settings["checkpoint_sha256"][:16] + "...", "yes" if settings["ema"] else "no")
    logger.info("data: %d images of %s split '%s' (%s), batch %d x %d device(s)", num_images, settings["dataset"],
                settings["val_split"], settings["data_dir"], settings["batch_size"], settings["num_devices"])
    logger.info("eval transforms: resize short side to %s (%s), centre crop %s (crop_pct %s), normalize mean %s "
                "std %s (0-255 scale); precision %s", settings["resize"], settings["interpolation"],
                settings["image_resize"], settings["crop_pct"], [round(v, 3) for v in settings["mean"]],
                [round(v, 3) for v in settings["std"]], settings["amp_level"])


def _results_path(args, weights: Weights) -> str:
    """--results_json, else <checkpoint without .ckpt>.eval.json; checked to be writable."""
    if args.results_json:
        return check_writable(args.results_json, "--results_json")
    stem = weights.path[:-len(".ckpt")] if weights.path.endswith(".ckpt") else weights.path
    return check_writable(stem + ".eval.json", "--results_json (default: beside the checkpoint)")


def _check_bad_images(index, dist) -> None:
    """Fail when image files could not be decoded: the loader counted a neighbour in their place."""
    from mindcv.utils.distributed import all_reduce_sum

    for path, reason in index.bad_images.items():
        logger.error("cannot decode image %s: %s", path, reason)
    total = int(all_reduce_sum([len(index.bad_images)], dist)[0])
    if total:
        local = "; ".join(f"{path}: {reason}" for path, reason in list(index.bad_images.items())[:3])
        raise EvalError(f"{total} image file(s) could not be decoded ({local or 'on other ranks'}); the numbers "
                        f"counted a neighbouring image in their place and are not exact: replace or remove them")


def _validate(argv: Optional[Sequence[str]]) -> int:
    """Body of validate.py."""
    from mindcv.utils.distributed import init_distributed
    from mindcv.utils.evaluate import EvalStep, evaluate
    from mindcv.utils.setup import make_eval_loader_factory, set_context
    from mindcv.data.sampler import shard_indices

    args = parse_args(argv, VALIDATE_TOOL)
    set_context(args)
    dist = init_distributed(args.distribute, ["validate.py"] + list(sys.argv[1:] if argv is None else argv))
    weights = resolve_weights(args)
    hint_run_config(args, weights)
    index = build_val_index(args, weights.num_classes, checkpoint_class_names(weights))
    results_path = _results_path(args, weights) if dist.is_main else ""
    sha = sha256_of(weights.path) if dist.is_main else ""
    settings = eval_settings(args, weights, index, dist, sha)
    if dist.is_main:
        log_settings(settings, len(index))
    model = build_eval_model(args, weights)
    shard = shard_indices(len(index), dist.group_size, dist.rank, shuffle=False, pad=False)
    batches = make_eval_loader_factory(args, index, dist, weights.num_classes)() if shard else []
    result = evaluate(EvalStep(model, weights.num_classes), batches, dist)
    _check_bad_images(index, dist)
    if dist.is_main:
        report(result, settings, results_path, min(5, weights.num_classes))
    return 0


def report(result: Dict[str, Any], settings: Dict[str, Any], path: str, topk: int) -> None:
    """Log the numbers, print the RESULT line and write the results JSON."""
    record = dict(result, topk=topk, settings=settings)
    logger.info("top-1 %.3f %%, top-%d %.3f %%, mean loss %.4f over %d images; %.1f images/s (%.1f s)",
                result["top1"], topk, result["top5"], result["loss"], result["num_samples"],
                result["images_per_sec"], result["seconds"])
    print("RESULT " + json.dumps(_json_safe(record), sort_keys=True), flush=True)
    logger.info("results written to %s", write_json_atomic(path, record))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: exit status 0 on success, 2 with a one-line message on bad input."""
    return run_tool("validate.py", _validate, argv)


if __name__ == "__main__":
    sys.exit(main())
