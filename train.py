"""Train a model (MixNet by default) with a MindCV-style recipe, on one device or data-parallel under msrun.

    python train.py -c configs/mixnet/mixnet_s_demo.yaml
    msrun --worker_num 8 --local_worker_num 8 python train.py -c configs/mixnet/mixnet_s_ascend.yaml \
        --data_dir /path/to/imagenet

Nothing is written to ckpt_save_dir until the data, the model and the initial weights have been checked.
"""
import json
import os
import sys
from typing import Optional, Sequence

from config import check_resume_options, format_config, parse_args, save_config
from mindcv.utils.cli import run_main
from mindcv.utils.io import check_writable
from mindcv.utils.logger import add_file_handler, close_file_handler, get_logger, info_all_ranks

logger = get_logger("train")

DIVERGED_EXIT = 3


def _train(argv: Optional[Sequence[str]]) -> int:
    """Body of train.py."""
    args = parse_args(argv)
    check_writable(os.path.join(args.ckpt_save_dir, "config.yaml"), "ckpt_save_dir")
    from mindcv.utils.interrupt import StopRequest, TrainingInterrupted, exit_status

    # SIGINT/SIGTERM go to a watcher thread: set up before any import starts a thread (numpy's BLAS pool,
    # MindSpore's runtime), so that no thread runs MindSpore's handlers for them (see mindcv/utils/interrupt.py)
    with StopRequest() as stop:
        from mindcv.utils.distributed import launched_by_msrun

        if launched_by_msrun():
            stop.watch_parent()
        try:
            return _run(args, argv, stop)
        except TrainingInterrupted as stopped:
            saved = f"training state saved to {stopped.checkpoint}" if stopped.checkpoint else \
                f"rank 0 saved the training state in {args.ckpt_save_dir}"
            print(f"train.py: {stopped}: {saved}; to continue, run the same command with --resume auto",
                  file=sys.stderr, flush=True)
            return exit_status(stopped.signum)


def _run(args, argv: Optional[Sequence[str]], stop) -> int:
    """Check the run folder and the resumed state, build the run, own the folder, train."""
    # function-local imports: --help and option errors answer without MindSpore's start-up
    from mindcv.engine import (CONFIG_FILE, build_loaders, build_model, build_train_step, check_new_run_dir,
                               check_resume, refuse_if_in_use, resolve_resume, set_context, set_seeds,
                               take_run_folder)
    from mindcv.utils.distributed import init_distributed

    from mindcv.models.registry import model_entrypoint

    model_entrypoint(args.model)  # an unknown model name is refused before any data is read
    continuing = args.resume or (args.ckpt_path if args.resume_opt else "")  # resume_opt: MindCV's way
    check_new_run_dir(args.ckpt_save_dir, continuing)
    refuse_if_in_use(args.ckpt_save_dir)
    args = set_context(args)
    dist = init_distributed(args.distribute, ["train.py"] + list(sys.argv[1:] if argv is None else argv),
                            args.device_target, os.path.join(args.ckpt_save_dir, "msrun_logs"))
    logger.info("rank %d of %d; device %s, mode %s, jit level %s", dist.rank, dist.group_size, args.device_target,
                "graph" if args.mode == 0 else "PyNative", args.jit_level)
    source = check_resume(args, dist, check_resume_options)
    if source is not None and source.is_complete(args.epoch_size):
        logger.info("the run in %s is complete: %d epochs trained (%s), epoch_size is %d; nothing to do (pass a "
                    "larger --epoch_size to train longer)", args.ckpt_save_dir, int(source.meta["epoch_num"]),
                    source.path, args.epoch_size)
        return 0
    set_seeds(args.seed)  # the same on every rank: identical initial weights by construction
    data = build_loaders(args, dist)
    model = build_model(args, data.num_classes)
    parts = build_train_step(args, model, data, dist)
    start = resolve_resume(args, parts.train_step, dist, source, data.steps_per_epoch)
    lock = take_run_folder(args.ckpt_save_dir, continuing, dist)  # rank 0 owns the folder from here to the exit
    log_file = None
    try:
        if dist.is_main:
            config_path = os.path.join(args.ckpt_save_dir, CONFIG_FILE)
            save_config(args, config_path)
            log_file = add_file_handler(os.path.join(args.ckpt_save_dir, "train.log"))
            logger.info("effective configuration (saved to %s):\n%s", config_path, format_config(args))
        return _fit(args, dist, data, parts, model, start, stop)
    finally:
        close_file_handler(log_file)
        if lock is not None:
            lock.release()


def _fit(args, dist, data, parts, model, start, stop) -> int:
    """Train from ``start`` to the last epoch; log the summary."""
    from mindcv.engine import DEVICE_NUM_KEY, Trainer, TrainerConfig, TrainingDiverged, precise_bn_batches
    from mindcv.utils.distributed import weights_fingerprint

    cfg = TrainerConfig(
        epochs=args.epoch_size, batch_size=args.batch_size, steps_per_epoch=data.steps_per_epoch,
        lr_schedule=parts.lr_schedule, output_dir=args.ckpt_save_dir, model_name=args.model, start_epoch=start.epoch,
        start_step=start.step, log_interval=args.log_interval, val_interval=args.val_interval,
        ckpt_save_interval=args.ckpt_save_interval, ckpt_save_steps=args.ckpt_save_steps,
        keep_checkpoint_max=args.keep_checkpoint_max, ckpt_save_policy=args.ckpt_save_policy,
        gradient_accumulation_steps=args.gradient_accumulation_steps, dataset_sink_mode=args.dataset_sink_mode,
        views_per_image=max(args.aug_splits, 1),
        precise_bn_batches=precise_bn_batches(args.precise_bn, data.steps_per_epoch) if args.val_while_train else 0,
        meta={"model_name": args.model, "num_classes": data.num_classes,
              "class_names": json.dumps(data.class_names[:data.num_classes]), DEVICE_NUM_KEY: dist.group_size},
    )
    trainer = Trainer(parts.train_step, data.make_train_loader, cfg, dist, parts.eval_step, data.make_val_loader,
                      stop=stop, network=model)
    try:
        history = trainer.fit()  # SIGINT / SIGTERM: finish the step, save the state, exit 130 / 143
    except TrainingDiverged as err:
        logger.error("%s", err)
        return DIVERGED_EXIT
    if dist.group_size > 1:
        info_all_ranks("final weights fingerprint: %s", weights_fingerprint(model))
    if history and dist.is_main:
        last = history[-1]
        summary = f"finished {args.epoch_size} epochs: loss {last['loss']:.4f}"
        if "val_top1" in last:
            summary += (f", val top-1 {last['val_top1']:.2f} %, top-{min(5, data.num_classes)} "
                        f"{last['val_top5']:.2f} %")
        logger.info("%s; checkpoints in %s", summary, args.ckpt_save_dir)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: 0 on success, 2 with a one-line message on bad input, 3 when training diverged,
    130 / 143 when stopped by SIGINT / SIGTERM (state saved for --resume auto)."""
    return run_main("train.py", _train, argv)


if __name__ == "__main__":
    sys.exit(main())
