"""A training run: its context (device, mode, jit level), building it from a config (loaders, model, train step,
resume), the train step, the trainer loop, the evaluation step and the checkpoint manager."""
from .build import (DataBundle, TrainParts, augmentation_seed, build_loaders, build_model, build_train_step,
                    eval_shard, make_eval_loader_factory, resolve_resume, set_seeds)
from .checkpoint_manager import CheckpointManager, check_new_run_dir, find_latest_checkpoint
from .context import resolve_jit_level, set_context
from .evaluate import EvalStep, evaluate
from .precise_bn import precise_bn_batches, recompute_batchnorm
from .run_folder import (CONFIG_FILE, DEVICE_NUM_KEY, ResumeSource, check_resume, locate_resume, refuse_if_in_use,
                         take_run_folder)
from .train_step import TrainStep
from .trainer import Trainer, TrainerConfig, TrainingDiverged

__all__ = ["DataBundle", "TrainParts", "augmentation_seed", "build_loaders", "build_model", "build_train_step",
           "eval_shard", "make_eval_loader_factory", "resolve_resume", "set_seeds", "CheckpointManager",
           "check_new_run_dir", "find_latest_checkpoint", "precise_bn_batches", "recompute_batchnorm",
           "resolve_jit_level", "set_context", "EvalStep", "evaluate", "TrainStep", "Trainer", "TrainerConfig",
           "TrainingDiverged", "CONFIG_FILE", "DEVICE_NUM_KEY", "ResumeSource", "check_resume", "locate_resume",
           "refuse_if_in_use", "take_run_folder"]
