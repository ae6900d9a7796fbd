"""A training run's folder: the state a resumed run starts from, and what is checked before a resumed run writes
anything there (nobody else owns the folder, the run's saved options, a readable metrics.csv, something left to
train). The folder's lock itself is ``mindcv.utils.run_lock``."""
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..utils.checkpoint import CheckpointError, epoch_files, read_checkpoint_meta
from ..utils.cli import UserError
from ..utils.distributed import DistInfo, all_reduce_sum
from ..utils.logger import get_logger
from ..utils.run_lock import RunFolderInUse, RunLock, in_use_message, lock_owner
from .checkpoint_manager import check_new_run_dir, find_resume_checkpoint
from .trainer import read_metrics_rows

logger = get_logger(__name__)

__all__ = ["ResumeSource", "locate_resume", "check_resume", "refuse_if_in_use", "take_run_folder", "CONFIG_FILE",
           "DEVICE_NUM_KEY"]

CONFIG_FILE = "config.yaml"  # the run's effective options, written by train.py
DEVICE_NUM_KEY = "device_num"  # checkpoint metadata: the number of devices that trained the state
# (what a resumed run compares, its value in the run, its value now), for facts that are not options
Fact = Tuple[str, Any, Any]
CompareOptions = Callable[[Any, str, Sequence[Fact]], None]


@dataclass
class ResumeSource:
    """The training state a resumed run starts from: its checkpoint and that checkpoint's metadata."""

    path: str
    meta: Dict[str, Any]

    def is_complete(self, epoch_size: int) -> bool:
        """True when the state already holds ``epoch_size`` whole epochs: nothing is left to train."""
        return int(self.meta["epoch_num"]) >= epoch_size and not int(self.meta.get("epoch_step", 0))


def refuse_if_in_use(directory: str) -> None:
    """Raise RunFolderInUse when a live process holds the folder's lock (a read-only probe: nothing created)."""
    owner = lock_owner(directory)
    if owner:
        raise RunFolderInUse(in_use_message(directory, owner))


def locate_resume(args) -> Optional[ResumeSource]:
    """The state ``resume`` names (a path, or ``auto``: the newest readable epoch or recovery checkpoint of
    --model in ckpt_save_dir), read but not loaded; None for a new run or a run without a checkpoint yet."""
    if not args.resume:
        return None
    if args.resume == "auto":
        found = find_resume_checkpoint(args.ckpt_save_dir, args.model)
        if found is None:
            return None
        path, meta = found
    else:
        path = args.resume
        if not os.path.isfile(path):
            raise CheckpointError(f"resume: checkpoint file not found: {path} (--resume); pass a checkpoint of this "
                                  f"run or --resume auto")
        meta = read_checkpoint_meta(path)
    if "epoch_num" not in meta:
        raise CheckpointError(f"resume: {path} holds no training state (no epoch_num): it is a weights file; "
                              f"use ckpt_path to start from its weights")
    return ResumeSource(path, meta)


def check_resume(args, dist: DistInfo, compare_options: CompareOptions) -> Optional[ResumeSource]:
    """Before a resumed run builds or writes anything: the state it starts from (None: from epoch 1), after
    ``compare_options(args, saved config.yaml, facts)`` (refuses changes to what the state depends on) and a
    check that the run's metrics.csv can be continued."""
    if not args.resume:
        return None
    source = locate_resume(args)
    folder = os.path.dirname(os.path.abspath(source.path)) if source else args.ckpt_save_dir
    saved = os.path.join(folder, CONFIG_FILE)
    facts: List[Fact] = []
    if source is not None and DEVICE_NUM_KEY in source.meta:
        facts.append(("device count", int(source.meta[DEVICE_NUM_KEY]), dist.group_size))
    if os.path.isfile(saved):
        compare_options(args, saved, facts)
    elif source is not None:
        logger.warning("resume: no %s beside %s: this run's options could not be compared with the run's",
                       CONFIG_FILE, source.path)
    if source is not None:
        read_metrics_rows(os.path.join(args.ckpt_save_dir, "metrics.csv"), int(source.meta["epoch_num"]))
        return source
    others = sorted({name for _, _, name in epoch_files(args.ckpt_save_dir)})
    if others:
        raise CheckpointError(f"resume auto: {os.path.abspath(args.ckpt_save_dir)} holds checkpoints of another "
                              f"model ({', '.join(others[:3])}) but none of --model {args.model}: resume that run "
                              f"with its own --model, or choose another --ckpt_save_dir")
    logger.info("resume auto: no checkpoint in %s yet, starting from epoch 1", args.ckpt_save_dir)
    return None


def take_run_folder(directory: str, resume: str, dist: DistInfo) -> Optional[RunLock]:
    """Own the run folder for this run's life: rank 0 takes its lock (then checks again, under the lock, that a
    new run finds no other run's files); every rank learns whether that worked. Returns rank 0's lock."""
    lock, error = None, None
    if dist.is_main:
        try:
            lock = RunLock(directory).acquire()
            check_new_run_dir(directory, resume)
        except UserError as err:
            error = err
            if lock is not None:
                lock.release()
                lock = None
    failed = all_reduce_sum([float(error is not None)], dist)[0] > 0
    if error is not None:
        raise error
    if failed:
        raise RunFolderInUse(f"rank 0 could not take the run folder {os.path.abspath(directory)} (see its log)")
    return lock
