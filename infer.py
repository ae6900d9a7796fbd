"""Classify image files: the top-k classes and their probabilities for every image.

    python infer.py --model mixnet_s --pretrained True photo.jpg
    python infer.py -c configs/mixnet/mixnet_s_demo.yaml --ckpt_path ckpt_demo/mixnet_s-best.ckpt IMAGE_OR_DIR ...

Images are preprocessed with the recipe's eval transforms (image_resize, crop_pct, interpolation, mean, std).
Class names, first match wins: --class_names (a names file or a dataset folder), the checkpoint's
``class_names`` metadata, the training folders of --data_dir (or of the embedded digits dataset), the
ImageNet-1k names for a 1000-class model, else "class <i>". An image that cannot be decoded is reported
on stderr and the others are still classified; the exit status is then 1.
"""
import json
import os
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import mindcv  # noqa: F401  (CPU start-up tuning before MindSpore loads)
from config import OPTIONS, Option, ToolOptions, parse_args
from mindcv.utils.logger import get_logger
from validate import (EvalError, Weights, build_eval_model, check_writable, checkpoint_class_names, hint_run_config,
                      resolve_weights, run_tool, write_json_atomic)

logger = get_logger("infer")

INFER_TOOL = ToolOptions(
    prog="infer.py",
    description="Classify images with a checkpoint or the published weights: top-k classes with probabilities",
    title="Inference",
    positional="images",
    positional_metavar="IMAGE_OR_DIR",
    positional_help="image files, or folders searched recursively for .jpg/.jpeg/.png/.bmp files",
    options=(
        Option("topk", "int", 5, "classes listed per image", low=1),
        Option("class_names", "str", "", "class names: a text file (one name per line, in label order), a JSON "
               "list, or a dataset folder (the class folders of <dir>/<train_split>, or of <dir> itself)"),
        Option("results_json", "str", "", "also write the predictions to this JSON file; empty: do not"),
    ),
)


@dataclass
class Prediction:
    """The top-k classes of one image."""

    image: str
    classes: List[int]
    probabilities: List[float]


# ----------------------------------------------------------------------------------------------
# class names
# ----------------------------------------------------------------------------------------------

def _names_from_file(path: str) -> List[str]:
    """Names from a JSON list / {index: name} object, or a text file with one name per line."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except ValueError as err:
            raise EvalError(f"--class_names {path} is not valid JSON: {err}") from err
        if isinstance(data, dict):
            try:
                return [str(data[key]) for key in sorted(data, key=int)]
            except ValueError as err:
                raise EvalError(f"--class_names {path}: a JSON object needs integer keys (label indices)") from err
        if isinstance(data, list):
            return [str(name) for name in data]
        raise EvalError(f"--class_names {path}: expected a JSON list of names or an {{index: name}} object")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _names_from_folder(path: str, train_split: str) -> List[str]:
    """Class folder names of <path>/<train_split>, or of <path> itself when it has no such split."""
    from mindcv.data import get_class_names

    split = train_split if os.path.isdir(os.path.join(path, train_split)) else ""
    return get_class_names(path, split)


def _dataset_names(args) -> Optional[List[str]]:
    """Training class folder names of --data_dir (or of the embedded dataset), when the user pointed at one."""
    from mindcv.data import get_class_names

    if args.dataset.lower() == "digits":
        from mindcv.data.digits import prepare_digits

        return get_class_names(prepare_digits(args.data_dir or None), args.train_split)
    if args.data_dir and args.data_dir != OPTIONS["data_dir"].default:
        if not os.path.isdir(os.path.join(args.data_dir, args.train_split)):
            raise EvalError(f"--data_dir {args.data_dir} has no {args.train_split}/ folder to read class names from; "
                            f"pass --class_names FILE instead")
        return get_class_names(args.data_dir, args.train_split)
    return None


def _readable(names: List[str]) -> List[str]:
    """ImageNet wnid folder names become readable names (n01440764 -> tench)."""
    from mindcv.data.imagenet_classes import imagenet_class_names, imagenet_wnids

    return imagenet_class_names() if names == imagenet_wnids() else names


def _named_source(args, weights: Weights) -> Tuple[Optional[List[str]], str]:
    """The first available source of class names, and its description (None when there is none)."""
    from mindcv.data.imagenet_classes import IMAGENET_NUM_CLASSES, imagenet_class_names

    if args.class_names:
        path = os.path.abspath(os.path.expanduser(args.class_names))
        if not os.path.exists(path):
            raise EvalError(f"--class_names {path} does not exist")
        return (_names_from_folder(path, args.train_split) if os.path.isdir(path) else _names_from_file(path)), path
    stored = checkpoint_class_names(weights)
    if stored:
        return stored, "the checkpoint's class_names metadata"
    folders = _dataset_names(args)
    if folders is not None:
        return folders, f"the class folders of dataset {args.dataset} {args.data_dir}".rstrip()
    if weights.num_classes == IMAGENET_NUM_CLASSES:
        return imagenet_class_names(), "ImageNet-1k"
    return None, "label indices"


def resolve_class_names(args, weights: Weights) -> Tuple[List[str], str]:
    """The model's class names in label order, and where they came from."""
    names, source = _named_source(args, weights)
    if names is None:
        logger.info("no class names for this %d-class model: pass --class_names FILE or --data_dir DIR (its "
                    "training class folders) to name them", weights.num_classes)
        return [f"class {i}" for i in range(weights.num_classes)], source
    if len(names) != weights.num_classes:
        raise EvalError(f"{len(names)} class names from {source} but the model has {weights.num_classes} classes: "
                        f"give the names the model was trained with (--class_names)")
    return _readable(list(names)), source


# ----------------------------------------------------------------------------------------------
# images
# ----------------------------------------------------------------------------------------------

def collect_images(paths: Sequence[str]) -> List[str]:
    """The image files named, folders searched recursively (sorted); a missing path or an empty folder is an error."""
    from mindcv.data.constants import IMAGE_EXTENSIONS

    files: List[str] = []
    for path in paths:
        if os.path.isfile(path):
            files.append(path)
        elif os.path.isdir(path):
            found = sorted(os.path.join(d, f) for d, _, names in os.walk(path) for f in names
                           if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."))
            if not found:
                raise EvalError(f"folder {path} holds no image files (looked for {', '.join(IMAGE_EXTENSIONS)})")
            files.extend(found)
        else:
            raise EvalError(f"image or folder not found: {path}")
    return files


def preprocess(path: str, transform) -> Tuple[Optional[Any], str]:
    """(CHW float32 array, "") for a decodable image, (None, reason) for one that cannot be read or decoded."""
    import numpy as np

    from mindcv.data.image_check import check_image_bytes

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        return None, f"cannot read the file ({err.strerror or err})"
    reason = check_image_bytes(data)  # before MindSpore's decoder, which can crash on a damaged header
    if reason:
        return None, reason
    try:
        return transform(np.frombuffer(data, dtype=np.uint8)), ""
    except RuntimeError as err:
        detail = "image decode failed" if "decode" in str(err).lower() else str(err).strip().splitlines()[-1]
        return None, f"cannot decode the image ({detail})"


def softmax(logits):
    """Row-wise softmax in float64."""
    import numpy as np

    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def classify(model, arrays: List[Any], batch_size: int, topk: int) -> List[Tuple[List[int], List[float]]]:
    """Top-k (classes, probabilities) of each preprocessed image; batches padded to one size (one graph)."""
    import numpy as np
    from mindspore import Tensor

    results = []
    for start in range(0, len(arrays), batch_size):
        chunk = np.stack(arrays[start:start + batch_size])
        count = chunk.shape[0]
        if count < batch_size:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - count, axis=0)])
        probs = softmax(model(Tensor(chunk)).asnumpy())[:count]
        for row in probs:
            order = np.argsort(-row, kind="stable")[:topk]
            results.append(([int(i) for i in order], [float(row[i]) for i in order]))
    return results


def format_prediction(prediction: Prediction, names: List[str]) -> str:
    """The image path, then one line per class: rank, probability, name and label index."""
    lines = [prediction.image]
    for rank, (index, prob) in enumerate(zip(prediction.classes, prediction.probabilities), 1):
        lines.append(f"  {rank}. {100.0 * prob:6.2f} %  {names[index]}  (class {index})")
    return "\n".join(lines)


def _eval_transform(args):
    """The recipe's eval transforms as one callable on encoded image bytes."""
    from mindspore.dataset.transforms import Compose

    from mindcv.data import create_transforms

    try:
        return Compose(create_transforms(args.dataset, image_resize=args.image_resize, is_training=False,
                                         interpolation=args.interpolation, crop_pct=args.crop_pct,
                                         mean=list(args.mean), std=list(args.std)))
    except ValueError as err:
        raise EvalError(f"cannot build the eval transforms: {err}") from err


def _infer(argv: Optional[Sequence[str]]) -> int:
    """Body of infer.py."""
    from mindcv.utils.setup import set_context

    args = parse_args(argv, INFER_TOOL)
    files = collect_images(args.images)
    transform = _eval_transform(args)
    if args.results_json:
        args.results_json = check_writable(args.results_json, "--results_json")
    set_context(args)
    weights = resolve_weights(args)
    hint_run_config(args, weights)
    names, source = resolve_class_names(args, weights)
    model = build_eval_model(args, weights)
    logger.info("%s (%d classes, names from %s), weights %s%s; %d image(s), resize %d crop_pct %s", args.model,
                weights.num_classes, source, weights.path, " (EMA)" if weights.ema else "", len(files),
                args.image_resize, args.crop_pct)
    arrays, good, failures = [], [], []
    for path in files:
        array, reason = preprocess(path, transform)
        if array is None:
            failures.append({"image": path, "error": reason})
            print(f"infer.py: error: {path}: {reason}", file=sys.stderr, flush=True)
        else:
            arrays.append(array)
            good.append(path)
    topk = min(args.topk, weights.num_classes)
    batch = max(1, min(args.batch_size, len(arrays)))
    predictions = [Prediction(p, c, q) for p, (c, q) in zip(good, classify(model, arrays, batch, topk))]
    for prediction in predictions:
        print(format_prediction(prediction, names), flush=True)
    if args.results_json:
        write_json_atomic(args.results_json, _as_json(predictions, failures, names, weights, source))
    if failures:
        print(f"infer.py: error: {len(failures)} of {len(files)} image(s) could not be classified", file=sys.stderr)
        return 1
    return 0


def _as_json(predictions: List[Prediction], failures: List[Dict[str, str]], names: List[str], weights: Weights,
             source: str) -> Dict[str, Any]:
    """Predictions and failures as a JSON-able dict."""
    return {
        "checkpoint": weights.path, "ema": weights.ema, "num_classes": weights.num_classes, "class_names_from": source,
        "predictions": [{"image": p.image, "top": [{"class": c, "name": names[c], "probability": q}
                                                   for c, q in zip(p.classes, p.probabilities)]}
                        for p in predictions],
        "errors": failures,
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: 0 when every image was classified, 1 when some could not be decoded, 2 on bad input."""
    return run_tool("infer.py", _infer, argv)


if __name__ == "__main__":
    sys.exit(main())
