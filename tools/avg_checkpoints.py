"""Average the weights of the best or the last k checkpoints of a training run (as timm's avg_checkpoints).

    python tools/avg_checkpoints.py --input ckpt_demo -n 3                  # top 3 by val top-1, else last 3
    python tools/avg_checkpoints.py --input ckpt_demo -n 3 --select last --output ckpt_demo/mixnet_s-avg3.ckpt
    python tools/avg_checkpoints.py --files a.ckpt b.ckpt c.ckpt --use_ema --output avg.ckpt

The run's ``checkpoints.json`` (written by train.py) lists its epoch checkpoints and their validation top-1;
without it the ``<model>-<epoch>_<step>.ckpt`` files are used (``last`` only). Every parameter of the network,
BatchNorm statistics included, is averaged in float64 and stored in its original dtype; optimizer state is left
out. The output is written atomically and loads with validate.py / infer.py / export.py --ckpt_path.
"""
import argparse
import json
import os
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

import mindspore as ms

from mindcv.utils.checkpoint import (EMA_PREFIX, EPOCH_FILE, epoch_files, has_ema,
                                     is_training_state, load_param_dict, read_checkpoint_meta, read_run_index,
                                     save_checkpoint_atomic)
from mindcv.utils.cli import ArgumentParser, UserError, run_main
from mindcv.utils.logger import get_logger

logger = get_logger("avg_checkpoints")

KEPT_META = ("model_name", "num_classes", "class_names", "variant_options")


class AverageError(UserError):
    """Bad input to the averaging (files, selection); reported as a one-line message."""


@dataclass
class Candidate:
    """One epoch checkpoint of a run."""

    path: str
    epoch: int
    metric: Optional[float]


def create_parser() -> ArgumentParser:
    """The command line."""
    parser = ArgumentParser(
        prog="avg_checkpoints.py", description="Average the weights of the top-k or last-k checkpoints of a run",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter, allow_abbrev=False)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help="run directory (train.py's --ckpt_save_dir) holding the epoch checkpoints")
    source.add_argument("--files", nargs="+", metavar="CKPT", help="average exactly these checkpoint files")
    parser.add_argument("-n", "--num", type=int, default=10, help="number of checkpoints to average (with --input)")
    parser.add_argument("--select", choices=("auto", "top", "last"), default="auto",
                        help="top: best validation top-1 of checkpoints.json; last: highest epochs; auto: top when "
                             "every checkpoint has a validation metric, else last")
    parser.add_argument("--use_ema", action="store_true", help="average the EMA weights (ema.*) instead of the raw "
                        "weights; every checkpoint must hold them")
    parser.add_argument("--output", default="", help="output checkpoint; default <input>/<model>-avg.ckpt "
                        "(with --files: ./averaged.ckpt)")
    return parser


# ----------------------------------------------------------------------------------------------
# which checkpoints
# ----------------------------------------------------------------------------------------------

def run_candidates(directory: str) -> List[Candidate]:
    """The epoch checkpoints of a run directory (checkpoints.json first, file names otherwise)."""
    if not os.path.isdir(directory):
        raise AverageError(f"--input {directory} is not a directory (expected train.py's --ckpt_save_dir)")
    found = [Candidate(os.path.join(directory, r["file"]), r["epoch"], r["metric"])
             for r in read_run_index(directory) or []]
    if not found:  # no index: the file names (no metric known)
        found = [Candidate(os.path.join(directory, name), epoch, None) for epoch, _, name in epoch_files(directory)]
    if not found:
        raise AverageError(f"no epoch checkpoints (<model>-<epoch>_<step>.ckpt) in {directory}")
    return found


def select(candidates: List[Candidate], num: int, how: str) -> List[Candidate]:
    """The ``num`` best (by metric, later epoch first on ties) or latest candidates."""
    if num < 1:
        raise AverageError(f"-n/--num must be >= 1, got {num}")
    have_metric = all(c.metric is not None for c in candidates)
    if how == "top" and not have_metric:
        raise AverageError("--select top needs the validation top-1 of every checkpoint (train with "
                           "--val_while_train True, which records it in checkpoints.json); use --select last")
    use_top = how == "top" or (how == "auto" and have_metric)
    key = (lambda c: (c.metric, c.epoch)) if use_top else (lambda c: c.epoch)
    chosen = sorted(candidates, key=key, reverse=True)[:num]
    if len(chosen) < num:
        logger.warning("only %d checkpoints available; averaging all of them", len(chosen))
    logger.info("averaging the %s %d: %s", "best" if use_top else "last", len(chosen),
                ", ".join(f"{os.path.basename(c.path)}" + (f" (top-1 {c.metric:.2f})" if c.metric is not None else "")
                          for c in chosen))
    return chosen


# ----------------------------------------------------------------------------------------------
# averaging
# ----------------------------------------------------------------------------------------------

def network_weights(path: str, use_ema: bool) -> Dict[str, "object"]:
    """name -> numpy array of the network parameters of one checkpoint (their EMA copies, where present, when asked)."""
    params = load_param_dict(path)
    weights = {name: p.asnumpy() for name, p in params.items() if not is_training_state(name) and len(p.shape) > 0}
    if use_ema:
        ema = {name[len(EMA_PREFIX):]: p for name, p in params.items() if name.startswith(EMA_PREFIX)}
        if not has_ema(params):
            raise AverageError(f"--use_ema but {path} holds no EMA weights (no 'ema.*' entries); run without --use_ema")
        weights.update({name: ema[name].asnumpy() for name in weights if name in ema})
    if not weights:
        raise AverageError(f"{path} holds no network parameters")
    return weights


def _check_same_layout(reference: Dict[str, object], other: Dict[str, object], ref_path: str, path: str) -> None:
    """Every checkpoint must have the same parameter names and shapes."""
    missing = sorted(set(reference) - set(other))
    extra = sorted(set(other) - set(reference))
    if missing or extra:
        raise AverageError(f"{path} does not have the parameters of {ref_path}: missing {missing[:4]}, "
                           f"extra {extra[:4]} (checkpoints of different models cannot be averaged)")
    for name, value in reference.items():
        if value.shape != other[name].shape:
            raise AverageError(f"{name} has shape {other[name].shape} in {path} but {value.shape} in {ref_path}")


def average(paths: Sequence[str], use_ema: bool) -> Dict[str, object]:
    """Element-wise mean of the network parameters of ``paths`` (float64 sums, original dtypes)."""
    first = network_weights(paths[0], use_ema)
    sums = {name: value.astype(np.float64) for name, value in first.items()}
    for path in paths[1:]:
        weights = network_weights(path, use_ema)
        _check_same_layout(first, weights, paths[0], path)
        for name, value in weights.items():
            sums[name] += value
    return {name: (total / len(paths)).astype(first[name].dtype) for name, total in sums.items()}


def output_metadata(paths: Sequence[str], use_ema: bool) -> Dict[str, object]:
    """model_name / num_classes / class_names / variant_options of the first checkpoint, plus the provenance."""
    meta = read_checkpoint_meta(paths[0])
    kept = {key: meta[key] for key in KEPT_META if key in meta and isinstance(meta[key], (str, int, float))}
    kept["averaged_from"] = json.dumps([os.path.basename(p) for p in paths])
    kept["averaged_ema"] = bool(use_ema)
    return kept


def default_output(args, paths: Sequence[str]) -> str:
    """<input>/<model>-avg.ckpt (model from the file names), or ./averaged.ckpt for --files."""
    if args.output:
        return os.path.abspath(os.path.expanduser(args.output))
    if args.files:
        return os.path.abspath("averaged.ckpt")
    match = EPOCH_FILE.match(os.path.basename(paths[0]))
    prefix = match.group("prefix") if match else "model"
    return os.path.join(os.path.abspath(args.input), f"{prefix}-avg.ckpt")


def _average(argv: Optional[Sequence[str]]) -> int:
    """Body of the tool."""
    args = create_parser().parse_args(argv)
    if args.files:
        missing = [p for p in args.files if not os.path.isfile(p)]
        if missing:
            raise AverageError(f"checkpoint file(s) not found: {', '.join(missing)}")
        paths = [os.path.abspath(p) for p in args.files]
    else:
        paths = [c.path for c in select(run_candidates(args.input), args.num, args.select)]
    output = default_output(args, paths)
    if output in paths:
        raise AverageError(f"--output {output} is one of the inputs; choose another file")
    averaged = average(paths, args.use_ema)
    params = {name: ms.Parameter(ms.Tensor(value), name=name) for name, value in averaged.items()}
    save_checkpoint_atomic(params, output, append_dict=output_metadata(paths, args.use_ema))
    logger.info("wrote the average of %d checkpoint(s)%s (%d parameters) to %s", len(paths),
                " (EMA weights)" if args.use_ema else "", len(params), output)
    print(output, flush=True)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: 0 on success, 2 with a one-line message on bad input."""
    return run_main("avg_checkpoints.py", _average, argv)


if __name__ == "__main__":
    sys.exit(main())
