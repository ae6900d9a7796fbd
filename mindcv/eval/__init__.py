"""Evaluating a checkpoint: resolving the weights, building the model strictly from them, the validation split
and its labels, class names, classification of image files, export, and the validation report."""
from .class_names import resolve_class_names
from .export import export_atomic, export_impl, export_path, sample_input, verify
from .index import build_val_index
from .per_class import class_report, gather_predictions, write_class_report, write_predictions_csv
from .predict import Prediction, as_json, classify, collect_images, eval_transform, format_prediction, preprocess
from .report import check_bad_images, eval_settings, log_settings, report, results_path
from .weights import (EvalError, Weights, apply_weights_eval_settings, build_eval_model, checkpoint_class_names,
                      classifier_name, hint_run_config, resolve_weights)

__all__ = ["resolve_class_names", "export_atomic", "export_impl", "export_path", "sample_input", "verify",
           "build_val_index", "class_report", "gather_predictions", "write_class_report", "write_predictions_csv",
           "Prediction", "as_json", "classify", "collect_images", "eval_transform", "format_prediction", "preprocess",
           "check_bad_images", "eval_settings", "log_settings", "report", "results_path", "EvalError", "Weights",
           "build_eval_model", "checkpoint_class_names", "classifier_name", "hint_run_config", "resolve_weights",
           "apply_weights_eval_settings"]
