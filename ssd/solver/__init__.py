"""Optimizer and learning-rate schedules."""

from .build import build_lr_scheduler, build_optimizer
from .lr_scheduler import WarmupSchedule, cosine_factor, multistep_factor, warmup_factor
from .optimizer import make_sgd, split_decay_params

__all__ = [
    "WarmupSchedule",
    "build_lr_scheduler",
    "build_optimizer",
    "cosine_factor",
    "make_sgd",
    "multistep_factor",
    "split_decay_params",
    "warmup_factor",
]
