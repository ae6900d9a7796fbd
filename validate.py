"""Top-1 / top-5 accuracy and mean loss of a checkpoint (or of the published weights, or of an exported ONNX /
MINDIR file) on a validation split.

    python validate.py -c configs/mixnet/mixnet_s_ascend.yaml --data_dir /path/to/imagenet --ckpt_path FILE
    python validate.py --data_dir /path/to/imagenet --ckpt_path mixnet_s.onnx     # or .mindir: see export.py
    python validate.py -c configs/mixnet/mixnet_s_ascend.yaml --data_dir /path/to/imagenet --pretrained True
    msrun --worker_num 8 --local_worker_num 8 python validate.py -c ... --ckpt_path FILE --distribute True

The recipe's eval transforms are used (image_resize, crop_pct, interpolation, mean, std); an exported file
brings those it was exported with (an option set to another value is refused). Under msrun every
rank evaluates a disjoint share of the images and the sums are added, so each image counts exactly once.
The result is printed, printed again as one ``RESULT {json}`` line, and written to a JSON file.
"""
import sys
from typing import Optional, Sequence

from config import Option, ToolOptions, parse_args
from mindcv.utils.cli import run_main

VALIDATE_TOOL = ToolOptions(
    prog="validate.py",
    description="Top-1 / top-5 accuracy and mean loss of a checkpoint or an exported .onnx / .mindir file on the "
                "validation split "
                "(the recipe's eval transforms; data-parallel under msrun with --distribute True)",
    title="Validation",
    options=(
        Option("results_json", "str", "", "write the results (accuracy, loss, images/s, checkpoint SHA-256, "
               "settings) to this JSON file; empty: <checkpoint without .ckpt>.eval.json"),
        Option("results_csv", "str", "", "also write every image's top-k predictions to this CSV file (as "
               "timm's --results-file); empty: do not"),
        Option("val_labels", "str", "", "labels of a flat val folder (images without class sub-folders): a "
               "text/CSV file with one '<image file> <class>' line per image, class = folder name/wnid "
               "or label index (LOC_val_solution.csv works as is)"),
    ),
)


def _validate(argv: Optional[Sequence[str]]) -> int:
    """Body of validate.py."""
    args = parse_args(argv, VALIDATE_TOOL)
    # function-local imports: --help and option errors answer without MindSpore's start-up
    from mindcv.engine import eval_shard, evaluate, make_eval_loader_factory, set_context
    from mindcv.eval import (apply_weights_eval_settings, build_eval_model, build_val_index, check_bad_images,
                             checkpoint_class_names, class_report, eval_settings, gather_predictions, hint_run_config,
                             log_settings, make_eval_step, report_results, resolve_weights, results_path,
                             write_class_report, write_predictions_csv)
    from mindcv.utils.io import check_writable
    from mindcv.utils.distributed import init_distributed
    from mindcv.utils.io import file_sha256

    args = set_context(args)
    dist = init_distributed(args.distribute, ["validate.py"] + list(sys.argv[1:] if argv is None else argv),
                            log_dir="val_logs")
    weights = resolve_weights(args)
    hint_run_config(args, weights)
    args = apply_weights_eval_settings(args, weights)
    index = build_val_index(args, weights.num_classes, checkpoint_class_names(weights))
    output = results_path(args, weights) if dist.is_main else ""
    predictions_csv = check_writable(args.results_csv, "--results_csv") if args.results_csv else ""
    settings = eval_settings(args, weights, index, dist, file_sha256(weights.path) if dist.is_main else "")
    if dist.is_main:
        log_settings(settings, len(index))
    model = build_eval_model(args, weights, form=args.eval_form)
    shard = eval_shard(args, len(index), dist)  # the loader's order (eval_shuffle: a seeded permutation)
    batches = make_eval_loader_factory(args, index, dist, weights.num_classes)() if shard else []
    result = evaluate(make_eval_step(model, weights), batches, dist, keep_predictions=True)
    check_bad_images(index, dist)
    seen = gather_predictions(result.pop("labels"), result.pop("topk"), shard, len(index), dist)
    if dist.is_main:
        names = (list(index.class_names) + [f"class {i}" for i in range(weights.num_classes)])[:weights.num_classes]
        stem = output[:-len(".json")] if output.endswith(".json") else output
        files = write_class_report(class_report(seen["labels"], seen["topk"][:, 0], weights.num_classes), names, stem)
        if predictions_csv:
            files["results_csv"] = write_predictions_csv(predictions_csv, [index.samples[i][0] for i in
                                                                           seen["positions"]],
                                                         seen["labels"], seen["topk"], names)
        report_results(dict(result, files=files), settings, output, min(5, weights.num_classes))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: exit status 0 on success, 2 with a one-line message on bad input."""
    return run_main("validate.py", _validate, argv)


if __name__ == "__main__":
    sys.exit(main())
