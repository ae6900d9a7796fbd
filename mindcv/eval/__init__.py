"""Evaluating a checkpoint or an exported model: resolving the weights, building the model strictly from them (or
opening the ONNX / MINDIR file), the validation split and its labels, class names, classification of image files,
export, quantization and the validation report.

The names are imported on first use (PEP 562), so ``import mindcv.eval.<light module>`` does not start MindSpore:
infer.py classifies with an ONNX file without it."""
import importlib
from typing import Any

_SOURCES = {
    "class_names": ("recorded_class_names", "resolve_class_names"),
    "export": ("export_atomic", "export_impl", "export_path", "float_staging_path", "sample_input", "verify"),
    "quantize": ("quantize_and_measure",),
    "exported": ("ExportedEvalStep", "apply_exported_settings", "export_metadata", "exported_format", "open_exported",
                 "resolve_exported", "side_file"),
    "index": ("build_val_index",),
    "per_class": ("class_report", "gather_predictions", "write_class_report", "write_predictions_csv"),
    "predict": ("Prediction", "as_json", "classify", "collect_images", "eval_transform", "format_prediction",
                "preprocess"),
    "report": ("check_bad_images", "eval_settings", "log_settings", "report_results", "results_path"),
    "base": ("EvalError", "Weights", "checkpoint_class_names"),
    "weights": ("apply_weights_eval_settings", "build_eval_model", "classifier_name", "hint_run_config",
                "make_eval_step", "resolve_weights"),
}
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}

__all__ = sorted(_MODULE_OF)
assert not set(_MODULE_OF) & set(_SOURCES), "a name equal to a submodule's would be replaced by the module on import"


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
