"""Builders: the only place in ssd.solver that reads the config."""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from yacs.config import CfgNode

from .ema import ModelEma
from .lr_scheduler import WarmupSchedule, make_lr_scheduler
from .optimizer import make_adamw, make_sgd


def build_optimizer(cfg: CfgNode, model: nn.Module) -> torch.optim.Optimizer:
    """SGD or AdamW (``SOLVER.OPTIMIZER``) from ``SOLVER.*``; ``cfg.SOLVER.LR`` is used as is
    (world-size scaling is applied to the config beforehand, see :func:`ssd.engine.scaling.scale_for_world`)."""
    s = cfg.SOLVER
    if s.OPTIMIZER == "adamw":
        if s.BIAS_LR_FACTOR != 1.0 or s.NO_DECAY_BIAS:
            raise ValueError(f"SOLVER.BIAS_LR_FACTOR {s.BIAS_LR_FACTOR} / NO_DECAY_BIAS {s.NO_DECAY_BIAS} are SGD "
                             "options (Caffe's); SOLVER.OPTIMIZER is adamw")
        return make_adamw(model, lr=s.LR, weight_decay=s.WEIGHT_DECAY, no_decay_norm_bias=s.NO_DECAY_NORM_BIAS)
    return make_sgd(
        model,
        lr=s.LR,
        momentum=s.MOMENTUM,
        weight_decay=s.WEIGHT_DECAY,
        no_decay_norm_bias=s.NO_DECAY_NORM_BIAS,
        bias_lr_factor=s.BIAS_LR_FACTOR,
        no_decay_bias=s.NO_DECAY_BIAS,
    )


def build_schedule(cfg: CfgNode) -> WarmupSchedule:
    s = cfg.SOLVER
    return WarmupSchedule(
        name=s.LR_SCHEDULER,
        max_iter=s.MAX_ITER,
        warmup_iters=s.WARMUP_ITERS,
        warmup_start_factor=s.WARMUP_FACTOR,
        steps=s.LR_STEPS,
        gamma=s.GAMMA,
        final_factor=s.COSINE_FINAL_FACTOR,
    )


def build_lr_scheduler(cfg: CfgNode, optimizer: torch.optim.Optimizer) -> LambdaLR:
    """Warmup + multistep or warmup + cosine, stepped once per iteration."""
    return make_lr_scheduler(optimizer, build_schedule(cfg))


def build_ema(cfg: CfgNode, model: nn.Module) -> ModelEma | None:
    """The EMA of ``model``'s weights (``SOLVER.EMA_DECAY``, ``SOLVER.EMA_WARMUP``), or ``None``
    when ``EMA_DECAY`` is 0."""
    s = cfg.SOLVER
    if s.EMA_DECAY <= 0:
        return None
    return ModelEma(model, decay=s.EMA_DECAY, warmup=s.EMA_WARMUP)
