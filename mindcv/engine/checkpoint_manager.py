"""Training checkpoints: per-epoch files with a retention policy, the best by validation top-1, one mid-epoch
recovery file (periodic or written on interruption), the newest valid state for ``--resume auto``; every write
atomic and CRC-checked, an index file kept beside them."""
import json
import os
from typing import Any, Dict, List, Optional, Tuple

from mindspore import nn

from ..utils.checkpoint import (EPOCH_FILE, INDEX_FILE, RECOVERY_SUFFIX, epoch_file_name, epoch_files,
                                read_checkpoint_meta, read_run_index, recovery_file_name, save_checkpoint_atomic)
from ..utils.cli import ConfigError
from ..utils.io import atomic_write_text
from ..utils.logger import get_logger

logger = get_logger(__name__)


class CheckpointManager:
    """Keeps ``keep_max`` epoch checkpoints: the latest ones (``latest_k``) or the best by metric (``top_k``)."""

    def __init__(self, directory: str, prefix: str, keep_max: int = 10, policy: str = "latest_k") -> None:
        if policy not in ("latest_k", "top_k"):
            raise ValueError(f"ckpt_save_policy={policy!r} is not known; use 'latest_k' or 'top_k'")
        if keep_max < 1:
            raise ValueError(f"keep_checkpoint_max must be >= 1, got {keep_max}")
        self.directory = directory
        self.prefix = prefix
        self.keep_max = keep_max
        self.policy = policy
        os.makedirs(directory, exist_ok=True)
        self.records: List[Dict] = read_run_index(directory) or []
        self.best_metric: Optional[float] = max(
            (r["metric"] for r in self.records if r.get("metric") is not None), default=None)

    @property
    def best_path(self) -> str:
        return os.path.join(self.directory, f"{self.prefix}-best.ckpt")

    def _write_index(self) -> None:
        atomic_write_text(os.path.join(self.directory, INDEX_FILE), json.dumps(self.records, indent=1))

    def save(self, cell: nn.Cell, epoch: int, step: int, metric: Optional[float] = None,
             meta: Optional[dict] = None) -> str:
        """Save the end-of-epoch state; also ``<prefix>-best.ckpt`` when ``metric`` is a new best."""
        meta = dict(meta or {}, epoch_num=int(epoch), step_num=int(step))
        name = epoch_file_name(self.prefix, epoch, step)
        path = save_checkpoint_atomic(cell, os.path.join(self.directory, name), append_dict=meta, crc_check=True)
        self.records = [r for r in self.records if r["file"] != name]
        self.records.append({"file": name, "epoch": int(epoch), "step": int(step), "metric": metric})
        if metric is not None and (self.best_metric is None or metric > self.best_metric):
            self.best_metric = metric
            save_checkpoint_atomic(cell, self.best_path, append_dict=dict(meta, best_metric=float(metric)),
                                   crc_check=True)
            logger.info("new best top-1 %.3f at epoch %d: %s", metric, epoch, self.best_path)
        self._prune(keep=name)
        self._write_index()
        return path

    @property
    def recovery_path(self) -> str:
        return os.path.join(self.directory, recovery_file_name(self.prefix))

    def save_recovery(self, cell: nn.Cell, epoch: int, epoch_step: int, step: int,
                      meta: Optional[dict] = None) -> str:
        """Save the state after ``epoch_step`` batches of epoch ``epoch + 1`` (0-based ``epoch`` epochs done,
        ``step`` batches in all) to the one recovery file, replacing the previous one atomically."""
        meta = dict(meta or {}, epoch_num=int(epoch), epoch_step=int(epoch_step), step_num=int(step))
        return save_checkpoint_atomic(cell, self.recovery_path, append_dict=meta, crc_check=True)

    def remove_recovery(self) -> None:
        """Drop the recovery file once the run is complete (the last epoch checkpoint supersedes it)."""
        try:
            os.remove(self.recovery_path)
        except FileNotFoundError:
            pass

    def _prune(self, keep: str) -> None:
        if len(self.records) <= self.keep_max:
            return
        if self.policy == "top_k":
            ranked = sorted(self.records, key=lambda r: (r.get("metric") is not None, r.get("metric") or 0.0,
                                                         r["epoch"]), reverse=True)
        else:
            ranked = sorted(self.records, key=lambda r: r["epoch"], reverse=True)
        kept = ranked[: self.keep_max]
        if not any(r["file"] == keep for r in kept):  # the newest file stays: resume needs it
            kept = kept[:-1] + [r for r in self.records if r["file"] == keep]
        for record in self.records:
            if record not in kept:
                try:
                    os.remove(os.path.join(self.directory, record["file"]))
                except OSError:
                    pass
        self.records = sorted(kept, key=lambda r: r["epoch"])


RUN_FILES = ("config.yaml", "metrics.csv", "train.log", INDEX_FILE)


def check_new_run_dir(directory: str, resume: str) -> None:
    """Refuse to start a new run in a folder holding another run's files (they would be overwritten or mixed)."""
    if resume or not os.path.isdir(directory):
        return
    found = [name for name in sorted(os.listdir(directory))
             if name in RUN_FILES or EPOCH_FILE.match(name) or name.endswith(("-best.ckpt", RECOVERY_SUFFIX))]
    if found:
        raise ConfigError(f"ckpt_save_dir {os.path.abspath(directory)} holds another run ({', '.join(found[:4])}"
                          f"{' ...' if len(found) > 4 else ''}), which this run would overwrite: pass a new "
                          f"--ckpt_save_dir, or --resume auto to continue that run")


def find_latest_checkpoint(directory: str, prefix: Optional[str] = None) -> Optional[str]:
    """The readable epoch checkpoint with the highest epoch in ``directory`` (None when there is none).

    Unreadable files (a crash while copying, a full disk) are skipped with a warning.
    """
    for _, _, name in reversed(epoch_files(directory, prefix)):
        path = os.path.join(directory, name)
        try:
            read_checkpoint_meta(path)
            return path
        except Exception as err:  # noqa: BLE001 - any unreadable file is skipped
            logger.warning("skipping unreadable checkpoint %s: %s", path, err)
    return None


def _read_state(path: str) -> Optional[Dict[str, Any]]:
    """Metadata of a training-state checkpoint, or None (with a warning naming it) when it cannot be used."""
    try:
        meta = read_checkpoint_meta(path)
    except Exception as err:  # noqa: BLE001 - any unreadable file is skipped
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        logger.warning("resume: skipping unreadable checkpoint %s (%s); falling back to an older one", path, reason)
        return None
    if "epoch_num" not in meta:
        logger.warning("resume: skipping %s: it holds no training state (no epoch_num)", path)
        return None
    return meta


def find_resume_checkpoint(directory: str, prefix: str) -> Optional[Tuple[str, Dict[str, Any]]]:
    """(path, metadata) of the newest readable training state in a run folder, epoch checkpoint or recovery
    file, by the batches trained (``step_num``; on a tie the epoch checkpoint); None when there is none.

    A file that does not load (CRC mismatch, truncated, not a checkpoint) is skipped with a warning naming it,
    and the next newest is used. Temporary files of interrupted saves never match the names looked at.
    """
    recovery_path = os.path.join(directory, recovery_file_name(prefix))
    recovery = None
    if os.path.isfile(recovery_path):
        meta = _read_state(recovery_path)
        recovery = (recovery_path, meta) if meta is not None else None
    recovery_step = int(recovery[1].get("step_num", -1)) if recovery else -1
    for _, step, name in sorted(epoch_files(directory, prefix), key=lambda item: item[1], reverse=True):
        if step < recovery_step:
            break
        path = os.path.join(directory, name)
        meta = _read_state(path)
        if meta is not None:
            return path, meta
    return recovery
