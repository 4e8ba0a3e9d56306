"""Exponential moving average of a model's weights (Polyak averaging), what evaluation and the
shipped weights use when ``SOLVER.EMA_DECAY > 0``.

After the ``t``-th optimizer step (``t = 1, 2, ...``) every floating-point entry of the state dict
(parameters and BatchNorm running statistics alike) becomes

    ema = d_t * ema + (1 - d_t) * model,   d_t = decay * (1 - exp(-t / warmup))

the decay ramp of YOLOX (``yolox/utils/ema.py``, ``warmup`` = 2000 there) and of timm's
``ModelEmaV3`` warm-up: early steps, where the weights are still far from any optimum, are
averaged over a short window instead of freezing the EMA at the random initialisation. Integer
buffers (BatchNorm's ``num_batches_tracked``) are copied.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn


def ema_decay(updates: int, *, decay: float, warmup: float) -> float:
    """``d_t`` above for ``t = updates``; ``warmup <= 0`` means no ramp (``decay`` from step 1)."""
    if warmup <= 0:
        return decay
    return decay * (1.0 - math.exp(-updates / warmup))


class ModelEma:
    """A frozen copy of ``model`` (same device and memory format, eval mode) averaged by :meth:`update`."""

    def __init__(self, model: nn.Module, *, decay: float, warmup: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay = {decay}; expected a value in (0, 1)")
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay, self.warmup = float(decay), float(warmup)
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One step of the average towards ``model``'s current weights."""
        self.updates += 1
        d = ema_decay(self.updates, decay=self.decay, warmup=self.warmup)
        current = model.state_dict()
        for name, ema in self.module.state_dict().items():
            value = current[name].detach()
            if ema.is_floating_point():
                ema.mul_(d).add_(value.to(ema.dtype), alpha=1.0 - d)
            else:
                ema.copy_(value)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor], *, updates: int) -> None:
        self.module.load_state_dict(state)
        self.updates = int(updates)

    def extra_state(self) -> dict[str, Any]:
        return {"ema_updates": self.updates, "ema_decay": self.decay, "ema_warmup": self.warmup}
