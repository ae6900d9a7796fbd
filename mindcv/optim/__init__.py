"""Optimizers by MindCV's names, with MindCV's weight-decay filters; AdamW, Lion, NAdam and Adan written here."""
from .adamw import AdamW
from .adan import Adan
from .lion import Lion
from .nadam import NAdam
from .optim_factory import OPTIMIZERS, WEIGHT_DECAY_FILTERS, create_optimizer, init_group_params, optimizer_loss_scale

__all__ = ["create_optimizer", "optimizer_loss_scale", "init_group_params", "AdamW", "Adan", "Lion", "NAdam",
           "OPTIMIZERS", "WEIGHT_DECAY_FILTERS"]
