"""Build the pieces of a training run from its configuration (kept out of train.py so each is testable)."""
import os
import random
from dataclasses import dataclass
from typing import Callable, Iterable, List, Optional, Tuple

import numpy as np

import mindspore as ms
from mindspore import nn

from ..data import create_loader, create_transforms, labels_are_soft
from ..data.dataset_factory import create_index
from ..data.sampler import repeated_shard_indices, shard_indices
from ..loss import create_loss
from ..models import create_model
from ..optim import create_optimizer
from ..scheduler import create_scheduler
from ..utils.checkpoint import CheckpointError, load_param_dict
from ..utils.cli import ConfigError
from ..utils.distributed import DistInfo
from ..utils.logger import get_logger
from .amp import apply_amp, cast_list_classes
from .context import amp_dtype_of, apply_jit_level, prepare_native_operators
from .evaluate import EvalStep
from .pynative_dp import jit_compile_step, use_pynative_data_parallel
from .run_folder import ResumeSource
from .train_step import TrainStep

logger = get_logger(__name__)

# seeds of a rank's augmentation randomness in an epoch: far apart so epochs and ranks never share one
_EPOCH_SEED_STRIDE = 1009
_RANK_SEED_STRIDE = 1_000_003


def set_seeds(seed: int) -> None:
    """Seed MindSpore (parameter initialisation), NumPy and random identically on every rank."""
    ms.set_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def augmentation_seed(seed: int, epoch: int, rank: int) -> int:
    """Seed of the data pipeline of one rank in one epoch: differs per rank and per epoch, reproducibly."""
    return (seed + _EPOCH_SEED_STRIDE * (epoch + 1) + _RANK_SEED_STRIDE * rank) % (2 ** 31 - 1)


@dataclass
class DataBundle:
    """Loader factories and the numbers the rest of the run needs."""

    make_train_loader: Callable[[int], Iterable]
    make_val_loader: Optional[Callable[[], Iterable]]
    steps_per_epoch: int
    num_classes: int
    class_names: List[str]
    soft_labels: bool


def _dataset_root(args) -> str:
    return args.data_dir


def build_loaders(args, dist: DistInfo) -> DataBundle:
    """Training loader per epoch (sharded, reshuffled, re-seeded) and the validation loader (exact shards)."""
    if args.in_channels != 3:
        raise ConfigError(f"in_channels={args.in_channels}: every dataset here feeds RGB images (MNIST's grey "
                          f"digits are replicated to 3 channels): train with in_channels 3")
    train_index = create_index(args.dataset, _dataset_root(args), args.train_split, download=args.dataset_download)
    num_classes = args.num_classes or len(train_index.class_names)
    if num_classes < len(train_index.class_names):
        raise ConfigError(f"num_classes={num_classes} but the training split has {len(train_index.class_names)} "
                         f"class folders under {train_index.split_dir}")
    total = len(train_index) if not args.num_samples else min(args.num_samples, len(train_index))
    per_rank = -(-total // dist.group_size)
    if per_rank < args.batch_size and args.drop_remainder:
        raise ConfigError(f"batch_size={args.batch_size} is larger than the {per_rank} training images per device "
                         f"({total} images, {dist.group_size} device(s)) with drop_remainder: lower batch_size")
    steps = per_rank // args.batch_size if args.drop_remainder else -(-per_rank // args.batch_size)
    soft = labels_are_soft(True, args.mixup, args.cutmix, args.batch_size)
    splits = args.aug_splits if args.aug_splits >= 2 else 0  # 0 and 1: off
    _log_mixing(args)
    transform_options = dict(
        scale=tuple(args.scale), ratio=tuple(args.ratio), hflip=args.hflip, vflip=args.vflip,
        color_jitter=args.color_jitter, interpolation=args.interpolation, re_prob=args.re_prob,
        re_scale=tuple(args.re_scale), re_ratio=tuple(args.re_ratio), re_value=args.re_value,
        re_max_attempts=args.re_max_attempts, mean=list(args.mean), std=list(args.std), crop_pct=args.crop_pct,
    )

    def make_train_loader(epoch: int, batches: Optional[int] = None):
        """The batched training dataset of this rank for ``epoch`` (the Trainer iterates or sinks it); with
        ``batches``, only the images of its first ``batches`` batches (precise BN: a loader over the whole epoch
        that is abandoned early still decodes the rest of the epoch when it is released, 5 s on the digits demo)."""
        seed = augmentation_seed(args.seed, epoch, dist.rank)
        # a pure function of (seed, epoch, rank): a resumed run reads the same rows; aug_repeats 0/1 reads each
        # image once (shard_indices' padded shards), r > 1 each image of the epoch r times across the ranks
        indices = repeated_shard_indices(len(train_index), max(1, args.aug_repeats), dist.group_size, dist.rank,
                                         shuffle=args.shuffle, seed=args.seed, epoch=epoch, per_shard=per_rank)
        if batches is not None:
            indices = indices[:batches * args.batch_size]
        dataset = train_index.dataset(indices, num_parallel_workers=args.num_parallel_workers, seed=seed)
        transform = create_transforms(args.dataset, image_resize=args.image_resize, is_training=True,
                                      auto_augment=args.auto_augment, separate=splits > 0, **transform_options)
        loader = create_loader(dataset, args.batch_size, drop_remainder=args.drop_remainder, is_training=True,
                               mixup=args.mixup, cutmix=args.cutmix, cutmix_prob=args.cutmix_prob,
                               num_classes=num_classes, transform=transform, label_smoothing=0.0,
                               num_parallel_workers=args.num_parallel_workers, seed=seed,  # smoothing: in the loss
                               separate=splits > 0, num_splits=splits or 3)
        return loader

    make_val_loader = None
    if args.val_while_train:
        val_index = create_index(args.dataset, _dataset_root(args), args.val_split,
                                 class_names=train_index.class_names)
        make_val_loader = make_eval_loader_factory(args, val_index, dist, num_classes)
    logger.info("training: %d images, %d classes, %d steps per epoch of %d x %d device(s)%s", total, num_classes,
                steps, args.batch_size, dist.group_size,
                (f", each image of an epoch read {args.aug_repeats} times" if args.aug_repeats > 1 else "")
                + (f", each image in {splits} views (aug_splits): {args.batch_size * splits} rows per device step"
                   if splits else ""))
    return DataBundle(make_train_loader, make_val_loader, steps, num_classes, train_index.class_names, soft)


def eval_shard(args, num_items: int, dist: DistInfo) -> List[int]:
    """This rank's exact share of ``num_items`` evaluation items, in the order it reads them: the split's order, or
    with ``eval_shuffle`` (MindCV's option) a random order drawn from ``seed``. The shares partition the items
    either way, so every count, every image's prediction and the accuracies do not depend on it."""
    return shard_indices(num_items, dist.group_size, dist.rank, shuffle=bool(getattr(args, "eval_shuffle", False)),
                         seed=args.seed, pad=False)


def make_eval_loader_factory(args, index, dist: DistInfo, num_classes: int) -> Callable[[], Iterable]:
    """Loader over this rank's exact share of ``index`` (no padding: every image is counted once)."""
    indices = eval_shard(args, len(index), dist)
    transform = create_transforms(args.dataset, image_resize=args.image_resize, is_training=False,
                                  interpolation=args.interpolation, crop_pct=args.crop_pct,
                                  mean=list(args.mean), std=list(args.std))

    def make_val_loader() -> Iterable:
        dataset = index.dataset(indices, num_parallel_workers=args.num_parallel_workers)
        loader = create_loader(dataset, args.batch_size, drop_remainder=False, is_training=False,
                               num_classes=num_classes, transform=transform,
                               num_parallel_workers=args.num_parallel_workers)
        return loader.create_tuple_iterator(num_epochs=1)

    return make_val_loader


def _log_mixing(args) -> None:
    """Say plainly when the recipe sets mixup/cutmix but cutmix_prob 0 switches them off (MindCV semantics)."""
    if (args.mixup > 0 or args.cutmix > 0) and args.cutmix_prob == 0:
        logger.warning("mixup=%s and cutmix=%s are set but cutmix_prob is 0: no batch is mixed (as in MindCV, whose "
                       "MixNet recipes train this way); labels are still one-hot targets, smoothed by the loss "
                       "(label_smoothing %s). Set cutmix_prob > 0 to mix", args.mixup, args.cutmix, args.label_smoothing)


def build_model(args, num_classes: int) -> nn.Cell:
    """The network, with initial weights from ``pretrained`` or ``ckpt_path`` when given."""
    prepare_native_operators(args.mixconv_impl)
    model = create_model(args.model, num_classes=num_classes, pretrained=args.pretrained,
                         in_channels=args.in_channels, checkpoint_path=args.ckpt_path, drop_rate=args.drop_rate,
                         drop_path_rate=args.drop_path_rate, mixconv_impl=args.mixconv_impl)
    cast_list = cast_list_classes(args.amp_cast_list) if args.amp_cast_list else None
    return apply_amp(model, args.amp_level, amp_dtype_of(args), cast_list)


@dataclass
class TrainParts:
    train_step: nn.Cell
    eval_step: nn.Cell
    lr_schedule: List[float]


def scaled_lr(lr: float, base_batch: Optional[int], global_batch: int) -> float:
    """``lr`` scaled linearly from the global batch it is meant for to this run's (unchanged without a base)."""
    if not base_batch:
        return lr
    scaled = lr * global_batch / base_batch
    logger.info("lr %g is for a global batch of %d; this run's global batch is %d: lr %g", lr, base_batch,
                global_batch, scaled)
    return scaled


def build_train_step(args, model: nn.Cell, data: DataBundle, dist: DistInfo) -> TrainParts:
    """Loss, learning-rate schedule (per optimizer update), optimizer, train and eval steps."""
    accum = args.gradient_accumulation_steps
    updates_per_epoch = max(1, data.steps_per_epoch // accum)
    lr = scaled_lr(args.lr, args.lr_base_batch, args.batch_size * dist.group_size * accum)
    lr_schedule = create_scheduler(
        updates_per_epoch, scheduler=args.scheduler, lr=lr, min_lr=args.min_lr,
        warmup_epochs=args.warmup_epochs, warmup_factor=args.warmup_factor, decay_epochs=args.decay_epochs,
        decay_rate=args.decay_rate, milestones=args.multi_step_decay_milestones, num_epochs=args.epoch_size,
        num_cycles=args.num_cycles, cycle_decay=args.cycle_decay, lr_epoch_stair=args.lr_epoch_stair)
    loss = create_loss(args.loss, reduction=args.reduction, label_smoothing=args.label_smoothing,
                       aux_factor=args.aux_factor, num_splits=args.aug_splits)
    optimizer = create_optimizer(model, opt=args.opt, lr=lr_schedule, weight_decay=args.weight_decay,
                                 momentum=args.momentum, nesterov=args.use_nesterov,
                                 weight_decay_filter=args.weight_decay_filter, loss_scale=1.0, eps=args.eps)
    scale_type = args.loss_scale_type
    if scale_type == "auto":
        scale_type = "dynamic" if args.amp_level != "O0" else "fixed"
    loss_scale = args.loss_scale
    if getattr(args, "amp_dtype", "float16") == "bfloat16" and args.amp_level != "O0":
        # bfloat16 has float32's exponent range: gradients do not underflow, so no loss scaling
        if loss_scale != 1.0 or scale_type == "dynamic":
            logger.info("amp_dtype bfloat16: loss scaling off (loss_scale %s, %s -> 1, fixed)", loss_scale, scale_type)
        loss_scale, scale_type = 1.0, "fixed"
    train_step = TrainStep(model, loss, optimizer, loss_scale=loss_scale, loss_scale_type=scale_type,
                           drop_overflow_update=args.drop_overflow_update, ema=args.ema, ema_decay=args.ema_decay,
                           clip_grad=args.clip_grad, clip_value=args.clip_value,
                           gradient_accumulation_steps=accum, group_size=dist.group_size)
    eval_network = model
    eval_step = EvalStep(eval_network, data.num_classes)
    if getattr(args, "dp_mode", "graph") == "pynative":
        use_pynative_data_parallel(dist)
        jit_compile_step(train_step, args.jit_level)
    else:
        apply_jit_level(train_step, args.jit_level)
    return TrainParts(train_step, eval_step, list(lr_schedule))


@dataclass
class ResumePoint:
    """Where a resumed run continues: after ``epoch`` whole epochs and ``step`` batches of the next one."""

    epoch: int = 0
    step: int = 0
    path: Optional[str] = None


def mindcv_optimizer_file(args) -> str:
    """Where MindCV's training saves the optimizer state beside its checkpoints: <ckpt_save_dir>/optim_<model>.ckpt."""
    return os.path.join(args.ckpt_save_dir, f"optim_{args.model}.ckpt")


def _optimizer_state(train_step: nn.Cell) -> Tuple[List[str], List[str]]:
    """(names the optimizer needs to continue: moments, global_step, ...; other training state of the step: loss
    scale, EMA, accumulated gradients), without the model's weights and the learning rate (from this run's config)."""
    weights = {p.name for p in train_step.net_with_loss.network.get_parameters()}
    needed = [p.name for p in train_step.optimizer.get_parameters()
              if p.name not in weights and "learning_rate" not in p.name]
    optional = [p.name for p in train_step.get_parameters()
                if p.name not in weights and p.name not in needed and "learning_rate" not in p.name]
    return needed, optional


def restore_optimizer(args, train_step: nn.Cell, steps_per_epoch: int) -> ResumePoint:
    """resume_opt with ckpt_path (MindCV's way to continue a run): the optimizer state from the checkpoint itself
    (a training checkpoint, this project's or MindCV's, holds it) or else from MindCV's optim_<model>.ckpt in
    ckpt_save_dir, with the loss scale and EMA state found there; the run continues where its global_step stands
    on this run's schedule (up to epoch_size epochs in all, as --resume)."""
    needed, optional = _optimizer_state(train_step)
    candidates = [args.ckpt_path, mindcv_optimizer_file(args)]
    missing: List[str] = needed
    for path in [c for c in candidates if os.path.isfile(c)]:
        params = load_param_dict(path)
        missing = [n for n in needed if n not in params]
        if not missing:
            break
    else:
        raise CheckpointError(
            f"resume_opt: found no state of optimizer '{args.opt}' in {' or '.join(candidates)} (missing "
            f"{', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}): use a training checkpoint of this "
            f"optimizer, or drop resume_opt to start from ckpt_path's weights")
    state = {n: params[n] for n in needed + [o for o in optional if o in params]}
    try:
        ms.load_param_into_net(train_step, state, strict_load=True)
    except (RuntimeError, ValueError) as err:
        raise CheckpointError(f"resume_opt: the optimizer state in {path} does not fit this run (another model or "
                              f"optimizer?): {str(err).splitlines()[0]}") from None
    step = int(np.asarray(params["global_step"].asnumpy()).reshape(-1)[0]) if "global_step" in params else 0
    updates_per_epoch = max(1, steps_per_epoch // args.gradient_accumulation_steps)
    point = ResumePoint(step // updates_per_epoch, (step % updates_per_epoch) * args.gradient_accumulation_steps,
                        path)
    logger.info("resume_opt: optimizer state (%d tensors%s) from %s, global step %d: continuing at epoch %d%s",
                len(state), ", with " + ", ".join(sorted({n.split(".")[0] for n in state if n in optional}))
                if any(n in optional for n in state) else "", path, step, point.epoch + 1,
                f" after step {point.step}" if point.step else "")
    return point


def resolve_resume(args, train_step: nn.Cell, dist: DistInfo, source: Optional[ResumeSource],
                   steps_per_epoch: int = 0) -> ResumePoint:
    """Restore the full training state of ``source`` (``locate_resume(args)``: the checkpoint of ``resume``;
    None: a new run, from epoch 1), or without one, with ``resume_opt`` and ``ckpt_path``, the optimizer state
    (``steps_per_epoch`` places the run on its schedule); returns where to continue."""
    if source is None:
        if getattr(args, "resume_opt", False) and args.ckpt_path:
            return restore_optimizer(args, train_step, steps_per_epoch)
        return ResumePoint()
    path, meta = source.path, source.meta
    params = load_param_dict(path)
    # the learning-rate schedule comes from this run's config (a longer epoch_size extends it); global_step
    # in the checkpoint places the run on it
    current = {p.name: p for p in train_step.get_parameters()}
    for name in [n for n in params if n in current and "learning_rate" in n]:
        if tuple(params[name].shape) != tuple(current[name].shape):
            logger.info("resume: %s recomputed from this run's config (%s -> %s steps)", name,
                        params[name].shape[0] if params[name].shape else 1, current[name].shape[0])
            del params[name]
    try:
        not_loaded, _ = ms.load_param_into_net(train_step, params)
    except (RuntimeError, ValueError) as err:
        raise CheckpointError(f"resume: {path} does not fit this run (another model, optimizer or option?): "
                         f"{str(err).splitlines()[0]}") from None
    not_loaded = [n for n in not_loaded if "learning_rate" not in n]
    if not_loaded:
        raise CheckpointError(f"resume: {path} does not fit this run; missing: {', '.join(not_loaded[:8])}"
                         + (" ..." if len(not_loaded) > 8 else ""))
    point = ResumePoint(int(meta["epoch_num"]), int(meta.get("epoch_step", 0)), path)
    if point.step:
        logger.info("resumed from %s: continuing at epoch %d after step %d", path, point.epoch + 1, point.step)
    else:
        logger.info("resumed from %s: continuing at epoch %d", path, point.epoch + 1)
    return point
