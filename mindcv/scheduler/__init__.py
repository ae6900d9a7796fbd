"""Learning-rate schedules as per-step lists (pure Python: importing this does not load MindSpore)."""
from . import dynamic_lr
from .scheduler_factory import SCHEDULERS, create_scheduler

__all__ = ["create_scheduler", "SCHEDULERS", "dynamic_lr"]
