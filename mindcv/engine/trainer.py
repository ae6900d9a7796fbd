"""The training loop: epochs of TrainStep calls, logging, validation, metrics CSV, checkpoints, NaN stop.

Every epoch rebuilds the training loader from (seed, epoch, rank), so a run resumed at epoch k reads
and augments exactly the data an uninterrupted run reads at epoch k; a run resumed in the middle of an epoch
(from a recovery checkpoint) runs the epoch's pipeline past the batches already trained on, so the next batch
is the one the uninterrupted run saw, with the same augmentation.
"""
import csv
import io
import math
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from mindspore import nn

from ..data import DatasetError
from ..utils.distributed import DistInfo, all_reduce_sum
from ..utils.interrupt import StopRequest, TrainingInterrupted
from ..utils.cli import OutputError
from ..utils.io import atomic_write_text
from ..utils.logger import get_logger
from .checkpoint_manager import CheckpointManager
from .curves import write_curves
from .evaluate import EvalStep, evaluate
from .precise_bn import recompute_batchnorm

logger = get_logger(__name__)

CSV_FIELDS = ["epoch", "step", "loss", "train_top1", "lr", "images_per_sec", "epoch_seconds", "val_top1", "val_top5",
              "val_loss"]


def sink_size_for(steps_per_epoch: int, log_interval: int) -> int:
    """The largest divisor of ``steps_per_epoch`` that is at most ``log_interval``."""
    for size in range(max(1, min(steps_per_epoch, log_interval)), 0, -1):
        if steps_per_epoch % size == 0:
            return size
    return 1


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class TrainerConfig:
    """What the loop needs to know beyond its parts."""

    epochs: int
    batch_size: int
    steps_per_epoch: int
    lr_schedule: Sequence[float]
    output_dir: str
    model_name: str
    start_epoch: int = 0
    start_step: int = 0  # batches of start_epoch already trained (resumed from a recovery checkpoint)
    log_interval: int = 100
    val_interval: int = 1
    ckpt_save_interval: int = 1
    ckpt_save_steps: int = 0  # batches between recovery checkpoints; 0: off
    keep_checkpoint_max: int = 10
    ckpt_save_policy: str = "latest_k"
    gradient_accumulation_steps: int = 1
    dataset_sink_mode: bool = False
    views_per_image: int = 1  # rows of a step's batch per image (aug_splits)
    precise_bn_batches: int = 0  # training batches over which BN statistics are recomputed before validation
    meta: Dict[str, object] = field(default_factory=dict)


def read_metrics_rows(path: str, last_epoch: int) -> List[dict]:
    """The rows of epochs 1..``last_epoch`` of a run's metrics.csv ([] when there is none); a file that is not
    UTF-8 text (e.g. re-saved by a spreadsheet as UTF-16) is an error naming it, before anything is written."""
    if not os.path.isfile(path):
        return []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return [r for r in csv.DictReader(f) if (r.get("epoch") or "").isdigit() and int(r["epoch"]) <= last_epoch]
    except (UnicodeDecodeError, csv.Error, OSError) as err:
        reason = "not UTF-8 text (re-saved by another program?)" if isinstance(err, UnicodeDecodeError) else \
            (getattr(err, "strerror", None) or str(err))
        raise OutputError(f"cannot read the run's {path}: {reason}; save it back as UTF-8 CSV, or move it away "
                          f"(the resumed run then starts a new one); nothing was changed") from None


class MetricsCSV:
    """Appends one row per epoch to ``metrics.csv`` (a resumed run continues the same file)."""

    def __init__(self, path: str, start_epoch: int) -> None:
        self.path = path
        self._write(read_metrics_rows(path, start_epoch) if start_epoch > 0 else [])

    def _write(self, rows: List[dict]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path, buffer.getvalue())

    def append(self, row: Dict[str, object]) -> None:
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, fieldnames=CSV_FIELDS).writerow({k: row.get(k, "") for k in CSV_FIELDS})


def _progress(total: int, desc: str, enabled: bool):
    """A tqdm bar on an interactive terminal of rank 0, else None."""
    if not enabled or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)


class Trainer:
    """Runs epochs ``start_epoch .. epochs - 1`` of ``train_step`` over ``make_train_loader(epoch)``."""

    def __init__(
        self,
        train_step: nn.Cell,
        make_train_loader: Callable[..., object],
        cfg: TrainerConfig,
        dist: DistInfo,
        eval_step: Optional[EvalStep] = None,
        make_val_loader: Optional[Callable[[], Iterable]] = None,
        stop: Optional[StopRequest] = None,
        network: Optional[nn.Cell] = None,
    ) -> None:
        self.train_step = train_step
        self.network = network  # the model (for precise BN)
        self.make_train_loader = make_train_loader
        self.cfg = cfg
        self.dist = dist
        self.eval_step = eval_step
        self.make_val_loader = make_val_loader
        self.stop = stop
        self.ckpt = (CheckpointManager(cfg.output_dir, cfg.model_name, cfg.keep_checkpoint_max, cfg.ckpt_save_policy)
                     if dist.is_main else None)
        self.csv = MetricsCSV(os.path.join(cfg.output_dir, "metrics.csv"), cfg.start_epoch) if dist.is_main else None
        self.compiled = False
        self.last_checkpoint: Optional[str] = None
        self.history: List[Dict[str, float]] = []

    def _lr_at(self, update: int) -> float:
        schedule = self.cfg.lr_schedule
        return float(schedule[min(max(update, 0), len(schedule) - 1)]) if len(schedule) else float("nan")

    def _steps(self, dataset, skip: int = 0) -> Iterator[Tuple[int, Tuple]]:
        """(steps done, step outputs) over one epoch: step by step from the host, or in sinks on Ascend/GPU.

        In sink mode one call runs ``sink_size`` steps on the device, sink_size being the largest divisor
        of the epoch's steps not above ``log_interval``, so the log stays live within an epoch. ``skip``
        batches are drawn from the pipeline and dropped first (every random draw of the epoch stays in place).
        """
        if skip:
            dataset = dataset.skip(skip)
        if not self.cfg.dataset_sink_mode:
            for step, (image, label) in enumerate(dataset.create_tuple_iterator(num_epochs=1), start=skip + 1):
                yield step, 1, self.train_step(image, label)
            return
        import mindspore as ms

        sink_size = sink_size_for(self.cfg.steps_per_epoch, self.cfg.log_interval)
        sink = ms.data_sink(self.train_step, dataset, sink_size=sink_size)
        for call in range(skip // sink_size + 1, self.cfg.steps_per_epoch // sink_size + 1):
            yield call * sink_size, sink_size, sink()

    def _stop_agreed(self) -> bool:
        """True when any rank was asked to stop (ranks agree, so all stop after the same step)."""
        local = bool(self.stop is not None and self.stop.requested)
        if self.dist.group_size > 1:
            return bool(all_reduce_sum([float(local)], self.dist)[0] > 0)
        return local

    def _signum(self) -> int:
        """The signal that stopped this rank (SIGTERM when another rank was the one signalled)."""
        return (self.stop.signum if self.stop is not None else None) or signal.SIGTERM

    def _save_recovery(self, epoch: int, step: int) -> Optional[str]:
        """Rank 0 writes the mid-epoch state (after ``step`` batches of epoch ``epoch + 1``)."""
        if not self.dist.is_main:
            return None
        global_step = epoch * self.cfg.steps_per_epoch + step
        path = self.ckpt.save_recovery(self.train_step, epoch, step, global_step, meta=self.cfg.meta)
        logger.info("recovery checkpoint at epoch %d, step %d/%d: %s", epoch + 1, step, self.cfg.steps_per_epoch,
                    path)
        return path

    def _after_step(self, epoch: int, step: int, n_steps: int = 1) -> None:
        """Periodic recovery checkpoint (when the last ``n_steps`` batches crossed a multiple of
        ckpt_save_steps: in sink mode saves fall on sink boundaries), then stop here, state saved, when asked."""
        cfg = self.cfg
        saved = None
        global_step = epoch * cfg.steps_per_epoch + step
        epoch_ckpt_follows = step == cfg.steps_per_epoch and ((epoch + 1) % cfg.ckpt_save_interval == 0
                                                              or epoch + 1 == cfg.epochs)
        every = cfg.ckpt_save_steps
        if every and global_step // every > (global_step - n_steps) // every and not epoch_ckpt_follows:
            saved = self._save_recovery(epoch, step)
        if self._stop_agreed():
            path = saved or self._save_recovery(epoch, step)
            where = f"at epoch {epoch + 1}, step {step}/{cfg.steps_per_epoch}"
            raise TrainingInterrupted(self._signum(), path, where)

    def _train_epoch(self, epoch: int) -> Dict[str, float]:
        cfg = self.cfg
        dataset = self.make_train_loader(epoch)
        bar = _progress(cfg.steps_per_epoch, f"epoch {epoch + 1}/{cfg.epochs}", self.dist.is_main)
        losses, timed_images, timed_seconds = [], 0, 0.0
        hits = np.zeros(2)  # top-1 hits and predictions of the steps whose outputs reach the host
        epoch_start = time.time()
        skip = cfg.start_step if epoch == cfg.start_epoch else 0
        step, last_logged, call_start = skip, skip, time.time()
        if not self.compiled:
            logger.info("compiling the training graph (the first step; a minute or two for MixNet on CPU) ...")
        for step, n_steps, (loss, overflow, _, correct) in self._steps(dataset, skip):
            loss_value = float(loss.asnumpy())
            hits += (float(correct.asnumpy()), cfg.batch_size * cfg.views_per_image)
            elapsed = time.time() - call_start
            if not self.compiled:
                self.compiled = True
                logger.info("compiled in %.1f s (first step, graph compilation included)", elapsed)
            else:
                timed_images += n_steps * cfg.batch_size * self.dist.group_size
                timed_seconds += elapsed
            if not math.isfinite(loss_value) and not bool(overflow.asnumpy()):
                last = self.last_checkpoint or "none saved yet"
                raise TrainingDiverged(f"loss became {loss_value} at epoch {epoch + 1}, step {step}: stopping. "
                                       f"Last good checkpoint: {last}. Lower lr, enable clip_grad, or check the data")
            losses.append(loss_value)
            global_step = epoch * cfg.steps_per_epoch + step
            if bar is not None:
                bar.set_postfix(loss=f"{loss_value:.4f}")
                bar.update(n_steps)
            elif step - last_logged >= cfg.log_interval:
                last_logged = step
                logger.info("epoch %d/%d step %d/%d loss %.4f lr %.6f", epoch + 1, cfg.epochs, step,
                            cfg.steps_per_epoch, loss_value, self._lr_at(self._updates(global_step) - 1))
            self._after_step(epoch, step, n_steps)
            call_start = time.time()
        if bar is not None:
            bar.close()
        if step == 0:
            raise DatasetError(f"epoch {epoch + 1} read no batch: the training set is smaller than one batch "
                               f"({cfg.batch_size} per device) with drop_remainder; lower batch_size")
        total_step = epoch * cfg.steps_per_epoch + step
        hits = all_reduce_sum(hits, self.dist)
        return {
            "epoch": epoch + 1,
            "step": total_step,
            "loss": float(np.mean(losses)) if losses else float("nan"),
            "train_top1": 100.0 * hits[0] / hits[1] if hits[1] else float("nan"),
            "lr": self._lr_at(self._updates(total_step) - 1),
            "images_per_sec": timed_images / timed_seconds if timed_seconds > 0 else float("nan"),
            "epoch_seconds": time.time() - epoch_start,
        }

    def _updates(self, batches: int) -> int:
        return batches // self.cfg.gradient_accumulation_steps

    def _validate(self, epoch: int) -> Dict[str, float]:
        if self.eval_step is None or self.make_val_loader is None:
            return {}
        if (epoch + 1) % self.cfg.val_interval and epoch + 1 != self.cfg.epochs:
            return {}
        if self.cfg.precise_bn_batches and self.network is not None:
            # a loader over the batches used only (see build_loaders)
            loader = self.make_train_loader(epoch, self.cfg.precise_bn_batches)
            batches = loader.create_tuple_iterator(num_epochs=1)
            recompute_batchnorm(self.network, batches, self.cfg.precise_bn_batches, self.dist)
        result = evaluate(self.eval_step, self.make_val_loader(), self.dist)
        self.train_step.set_train(True)
        logger.info("epoch %d validation: top-1 %.3f %%, top-%d %.3f %%, loss %.4f (%d images, %.1f s)",
                    epoch + 1, result["top1"], self.eval_step.k, result["top5"], result["loss"], result["num_samples"],
                    result["seconds"])
        return {"val_top1": result["top1"], "val_top5": result["top5"], "val_loss": result["loss"]}

    def fit(self) -> List[Dict[str, float]]:
        """Train to the last epoch; returns one metrics dict per epoch run. A stop request (signal) ends it
        after the current step with the state saved, by raising TrainingInterrupted."""
        self.train_step.set_train(True)
        if self.stop is not None:
            self.stop.training = True  # from now on a signal stops after the current step, state saved
        try:
            return self._fit()
        finally:
            if self.stop is not None:
                self.stop.training = False

    def _fit(self) -> List[Dict[str, float]]:
        cfg = self.cfg
        for epoch in range(cfg.start_epoch, cfg.epochs):
            row = self._train_epoch(epoch)
            logger.info("epoch %d/%d: step %d, loss %.4f, train top-1 %.2f %%, lr %.6f, %.1f images/s, %.1f s",
                        row["epoch"], cfg.epochs, row["step"], row["loss"], row["train_top1"], row["lr"],
                        row["images_per_sec"], row["epoch_seconds"])
            row.update(self._validate(epoch))
            self.history.append(row)
            if self.dist.is_main:
                self.csv.append(row)
                write_curves(self.csv.path)
                if (epoch + 1) % cfg.ckpt_save_interval == 0 or epoch + 1 == cfg.epochs:
                    self.last_checkpoint = self.ckpt.save(self.train_step, epoch + 1, row["step"],
                                                          metric=row.get("val_top1"), meta=cfg.meta)
            if epoch + 1 < cfg.epochs and self._stop_agreed():  # asked during validation or the save
                saved = (epoch + 1) % cfg.ckpt_save_interval == 0
                path = self.last_checkpoint if saved else self._save_recovery(epoch, cfg.steps_per_epoch)
                raise TrainingInterrupted(self._signum(), path, f"after epoch {epoch + 1}")
        if self.dist.is_main:
            self.ckpt.remove_recovery()  # complete: the last epoch checkpoint holds the final state
        return self.history
