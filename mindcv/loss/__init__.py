"""Losses: softmax and sigmoid cross entropy with label smoothing, and their factory."""
from .cross_entropy import BinaryCrossEntropySmooth, CrossEntropySmooth
from .loss_factory import LOSSES, create_loss

__all__ = ["create_loss", "LOSSES", "CrossEntropySmooth", "BinaryCrossEntropySmooth"]
