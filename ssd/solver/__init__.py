"""Optimizer, learning-rate schedules and the EMA of the weights."""

from .build import build_ema, build_lr_scheduler, build_optimizer
from .ema import ModelEma, ema_decay
from .lr_scheduler import WarmupSchedule, cosine_factor, multistep_factor, warmup_factor
from .optimizer import make_sgd, split_decay_params

__all__ = [
    "ModelEma",
    "WarmupSchedule",
    "build_ema",
    "build_lr_scheduler",
    "build_optimizer",
    "cosine_factor",
    "ema_decay",
    "make_sgd",
    "multistep_factor",
    "split_decay_params",
    "warmup_factor",
]
