"""Optimizers by MindCV's names, with MindCV's weight-decay filters, and MindCV's AdamW."""
from .adamw import AdamW
from .optim_factory import OPTIMIZERS, WEIGHT_DECAY_FILTERS, create_optimizer, init_group_params, optimizer_loss_scale

__all__ = ["create_optimizer", "optimizer_loss_scale", "init_group_params", "AdamW", "OPTIMIZERS",
           "WEIGHT_DECAY_FILTERS"]
