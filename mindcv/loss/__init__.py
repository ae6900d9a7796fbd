"""Losses: softmax and sigmoid cross entropy with label smoothing, asymmetric loss, JSD cross entropy, and their
factory."""
from .asymmetric import AsymmetricLossMultilabel, AsymmetricLossSingleLabel
from .cross_entropy import BinaryCrossEntropySmooth, CrossEntropySmooth
from .jsd import JSDCrossEntropy
from .loss_factory import LOSSES, create_loss

__all__ = ["create_loss", "LOSSES", "CrossEntropySmooth", "BinaryCrossEntropySmooth", "AsymmetricLossSingleLabel",
           "AsymmetricLossMultilabel", "JSDCrossEntropy"]
