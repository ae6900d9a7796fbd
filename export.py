"""Export a checkpoint (or the published weights) for deployment: MINDIR, or ONNX.

    python export.py --model mixnet_s --ckpt_path FILE --format MINDIR
    python export.py -c configs/mixnet/mixnet_s_demo.yaml --ckpt_path FILE --format ONNX --export_file out/model.onnx

The exported graph is the network in inference mode: input float32 NCHW
(export_batch_size, in_channels, image_resize, image_resize), already resized, centre-cropped and normalised
with the recipe's mean/std; output the logits. The preprocessing (image_resize, crop_pct, interpolation, mean,
std), the model name, num_classes and the class names travel with the file (ONNX: metadata_props; MINDIR: the
side file <file>.json), so validate.py / infer.py --ckpt_path FILE need no other option. The file is written
atomically, then (``--verify True``) loaded back — MINDIR through mindspore.load + nn.GraphCell, ONNX through onnxruntime when it is installed — and its
logits compared with the checkpointed model's on a fixed random input. MixConv layers are exported in
MindCV's ``split`` form (portable), or ``fused`` with ``--mixconv_impl fused``; ``native`` cannot be exported.
ONNX goes through ``mindspore.onnx.export`` (MindSpore 2.10's replacement of ``export(file_format='ONNX')``);
``--dynamic_batch True`` leaves its batch axis dynamic.
"""
import json
import os
import sys
from typing import Any, Dict, Optional, Sequence

from config import ConfigError, Option, ToolOptions, parse_args
from mindcv.eval.base import QUANT_CALIBRATIONS, QUANT_FLOAT_GROUPS
from mindcv.utils.cli import run_main
from mindcv.utils.logger import get_logger

logger = get_logger("export")

EXPORT_TOOL = ToolOptions(
    prog="export.py",
    description="Export a checkpoint to MINDIR (mindspore.load + nn.GraphCell) or ONNX, and check the logits",
    title="Export",
    options=(
        Option("file_format", "str", "MINDIR", "export format", choices=("MINDIR", "ONNX"), aliases=("format",)),
        Option("export_file", "str", "", "output file; empty: ./<model>.mindir or ./<model>.onnx (the suffix is "
               "added when missing)"),
        Option("export_batch_size", "int", 1, "batch dimension of the exported input", low=1),
        Option("dynamic_batch", "bool", False, "ONNX: leave the batch axis dynamic (any batch size at run time; "
               "export_batch_size is then only the sample's)"),
        Option("verify", "bool", True, "load the exported file back and compare its logits with the model's"),
        Option("quantize", "str", "none", "int8: write an int8 ONNX file (onnxruntime static QDQ quantization, "
               "calibrated on the training split of --data_dir) and compare it with the float model on the "
               "validation split (--num_samples of it)", choices=("none", "int8")),
        Option("calib_samples", "int", 512, "--quantize int8: calibration images, evenly spaced over the training "
               "split", low=1),
        Option("quant_keep_float", "str", "none", "--quantize int8: comma-separated groups whose convolutions stay "
               f"in float ({', '.join(QUANT_FLOAT_GROUPS)}), or none"),
        Option("quant_calibration", "str", QUANT_CALIBRATIONS[0], "--quantize int8: activation ranges from the "
               "mean of each calibration batch's min/max (average_minmax), the overall min/max, the 99.9th "
               "percentile or entropy", choices=QUANT_CALIBRATIONS),
    ),
)


def _check_quantize(args) -> None:
    """--quantize int8 writes ONNX; its groups must be known."""
    if args.quantize != "int8":
        return
    if "file_format" in getattr(args, "explicit_options", ()) and args.file_format != "ONNX":
        raise ConfigError(f"--quantize int8 writes an ONNX file: omit --file_format {args.file_format}")
    args.file_format = "ONNX"
    unknown = [g for g in args.quant_keep_float.split(",") if g and g not in QUANT_FLOAT_GROUPS + ("none",)]
    if unknown:
        raise ConfigError(f"--quant_keep_float: unknown group(s) {', '.join(unknown)}; choose from "
                          f"{', '.join(QUANT_FLOAT_GROUPS)} (comma-separated), or none")
    # function-local: --help stays light; checked before the model is built and exported (fail fast)
    from mindcv.eval.onnx_runner import import_quantization_tools

    import_quantization_tools()


def _export(argv: Optional[Sequence[str]]) -> int:
    """Body of export.py."""
    args = parse_args(argv, EXPORT_TOOL)
    _check_quantize(args)
    if args.dynamic_batch and args.file_format != "ONNX":
        raise ConfigError("--dynamic_batch True is for ONNX: a MINDIR is exported with a fixed batch "
                          "(set --export_batch_size, or use --file_format ONNX)")
    # function-local imports: --help and option errors answer without MindSpore's start-up
    from mindcv.engine import set_context
    from mindcv.eval import (apply_weights_eval_settings, build_eval_model, export_atomic, export_impl,
                             export_metadata, export_path, float_staging_path, hint_run_config, quantize_and_measure,
                             recorded_class_names, resolve_weights, sample_input, side_file, verify)
    from mindcv.utils.io import file_sha256

    impl = export_impl(args)
    path = export_path(args)
    args = set_context(args)
    weights = resolve_weights(args)
    if weights.exported:
        raise ConfigError(f"--ckpt_path {weights.path} is already an exported file: export.py reads a checkpoint")
    hint_run_config(args, weights)
    args = apply_weights_eval_settings(args, weights)
    model = build_eval_model(args, weights, mixconv_impl=impl)
    sample = sample_input(args)
    sha256 = file_sha256(weights.path)
    names = recorded_class_names(args, weights)
    dynamic = args.dynamic_batch or args.quantize == "int8"  # the int8 file is calibrated and measured in batches
    metadata = export_metadata(args, weights.num_classes, names, sample.shape, dynamic, weights.path, sha256,
                               weights.ema)
    quantized = None
    if args.quantize == "int8":
        float_path = export_atomic(model, sample, float_staging_path(path), "ONNX", dynamic_batch=True)
        try:
            diff = verify(model, float_path, "ONNX", sample) if args.verify else None
            quantized = quantize_and_measure(args, weights, float_path, path, metadata, names)
        finally:
            os.remove(float_path)
    else:
        export_atomic(model, sample, path, args.file_format, dynamic_batch=dynamic, metadata=metadata)
        diff = verify(model, path, args.file_format, sample) if args.verify else None
    record: Dict[str, Any] = {
        "file": path, "format": args.file_format, "sha256": file_sha256(path), "bytes": os.path.getsize(path),
        "input_shape": list(sample.shape), "input": "float32 NCHW, resized / centre-cropped / normalised",
        "mean": list(args.mean), "std": list(args.std), "crop_pct": args.crop_pct, "interpolation": args.interpolation,
        "model": args.model, "mixconv_impl": impl, "num_classes": weights.num_classes, "checkpoint": weights.path,
        "ema": weights.ema, "max_abs_diff": diff, "dynamic_batch": dynamic, "checkpoint_sha256": sha256,
        "class_names": names, "metadata": "metadata_props" if args.file_format == "ONNX" else side_file(path),
        "quantization": quantized or "none",
    }
    checked = "not checked" if diff is None else f"float logits match the model within {diff:.2e}"
    if quantized:
        logger.info("int8 on %d validation images: top-1 %.2f %% (float %.2f %%), top-5 %.2f %% (float %.2f %%), "
                    "top-1 agreement %.2f %%; file %.3fx of float, %.2fx its speed (%.0f vs %.0f images/s)",
                    quantized["num_samples"], quantized["int8_top1"], quantized["float_top1"], quantized["int8_top5"],
                    quantized["float_top5"], quantized["top1_agreement"], quantized["size_ratio"],
                    quantized["speedup"], quantized["int8_images_per_sec"], quantized["float_images_per_sec"])
    logger.info("exported %s to %s (%d bytes, input %s); %s", args.file_format, path, record["bytes"],
                record["input_shape"], checked)
    print("EXPORTED " + json.dumps(record, sort_keys=True), flush=True)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: exit status 0 on success, 2 with a one-line message on bad input."""
    return run_main("export.py", _export, argv)


if __name__ == "__main__":
    sys.exit(main())
