"""Classify image files: the top-k classes and their probabilities for every image.

    python infer.py --model mixnet_s --pretrained True photo.jpg
    python infer.py -c configs/mixnet/mixnet_s_demo.yaml --ckpt_path ckpt_demo/mixnet_s-best.ckpt IMAGE_OR_DIR ...
    python infer.py --ckpt_path mixnet_s.onnx IMAGE_OR_DIR ...       # an export.py file: its preprocessing travels

Images are preprocessed with the recipe's eval transforms (image_resize, crop_pct, interpolation, mean, std), or
with those recorded in an exported file (.onnx / .mindir, as written by export.py). An ONNX file runs in
onnxruntime without starting MindSpore (NumPy transforms equal to MindSpore's), the fastest first answer.
Without --mode on the command line, up to 16 images run in PyNative mode (no graph compile).
Class names, first match wins: --class_names (a names file or a dataset folder), the checkpoint's
``class_names`` metadata, the training folders of --data_dir (or of the embedded digits dataset), the
ImageNet-1k names for a 1000-class model, else "class <i>". An image that cannot be decoded is reported
on stderr and the others are still classified; the exit status is then 1.
"""
import argparse
import sys
from typing import Optional, Sequence

from config import Option, ToolOptions, parse_args
from mindcv.utils.cli import run_main
from mindcv.utils.logger import get_logger

logger = get_logger("infer")
PYNATIVE_MAX_IMAGES = 16  # without --mode on the command line, this many images or fewer run in PyNative mode

INFER_TOOL = ToolOptions(
    prog="infer.py",
    description="Classify images with a checkpoint, the published weights or an exported .onnx / .mindir file: "
                "top-k classes with probabilities",
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


def _open_onnx(args):
    """(args, weights, model, transform) of an ONNX file, without starting MindSpore when the NumPy eval transforms
    cover its interpolation (bilinear, bicubic)."""
    from mindcv.eval import apply_exported_settings, eval_transform, open_exported, resolve_exported

    weights = resolve_exported(args)
    args = apply_exported_settings(args, weights)
    return args, weights, open_exported(weights), eval_transform(args, light=True)


def _open_with_mindspore(args, num_images: int, mode_given: bool):
    """(args, weights, model, transform) of a checkpoint, the published weights or a MINDIR file. Without --mode
    on the command line, up to PYNATIVE_MAX_IMAGES images run in PyNative mode: a graph compile costs ~10 s, more
    than PyNative's per-image overhead for that many images (docs/performance.md)."""
    from mindcv.engine import set_context
    from mindcv.eval import (apply_weights_eval_settings, build_eval_model, eval_transform, hint_run_config,
                             resolve_weights)

    eval_transform(args)  # bad transform options fail here, before the weights are read
    if not mode_given and args.mode == 0 and num_images <= PYNATIVE_MAX_IMAGES:
        logger.info("%d image(s): PyNative mode (no graph compile); --mode 0 compiles the graph first", num_images)
        args = argparse.Namespace(**{**vars(args), "mode": 1})
    args = set_context(args)
    weights = resolve_weights(args)
    hint_run_config(args, weights)
    args = apply_weights_eval_settings(args, weights)
    transform = eval_transform(args)
    return args, weights, build_eval_model(args, weights, form=args.eval_form), transform


def _infer(argv: Optional[Sequence[str]]) -> int:
    """Body of infer.py."""
    args = parse_args(argv, INFER_TOOL)
    # function-local imports: --help and option errors answer without MindSpore's start-up, and so does an ONNX file
    from mindcv.eval import (Prediction, as_json, classify, collect_images, exported_format, format_prediction,
                             preprocess, resolve_class_names)
    from mindcv.utils.io import check_writable, write_json_atomic

    files = collect_images(args.images)
    results_json = check_writable(args.results_json, "--results_json") if args.results_json else ""
    tokens = list(sys.argv[1:] if argv is None else argv)
    mode_given = any(token == "--mode" or token.startswith("--mode=") for token in tokens)
    if exported_format(args.ckpt_path) == "ONNX":
        opened = _open_onnx(args)
    else:
        opened = _open_with_mindspore(args, len(files), mode_given)
    args, weights, model, transform = opened
    names, source = resolve_class_names(args, weights)
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
    if results_json:
        write_json_atomic(results_json, as_json(predictions, failures, names, weights, source))
    if failures:
        print(f"infer.py: error: {len(failures)} of {len(files)} image(s) could not be classified", file=sys.stderr)
        return 1
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: 0 when every image was classified, 1 when some could not be decoded, 2 on bad input."""
    return run_main("infer.py", _infer, argv)


if __name__ == "__main__":
    sys.exit(main())
