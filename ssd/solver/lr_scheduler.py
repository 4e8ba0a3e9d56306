"""Learning-rate schedules as pure functions of the iteration, plus a picklable multiplier.

Convention: ``iteration`` counts completed optimizer steps, so the step that runs at
``iteration = k`` (0-based) uses ``base_lr * factor(k)``. Warmup multiplies the main schedule
(linear ramp from ``start_factor`` at iteration 0 to 1 at ``warmup_iters``), as in Goyal et al.
2017, "Accurate, Large Minibatch SGD", §2.2.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import torch
from torch.optim.lr_scheduler import LambdaLR

from ..config.choices import LR_SCHEDULES


def warmup_factor(iteration: int, *, warmup_iters: int, start_factor: float) -> float:
    """Linear warmup multiplier: ``start_factor`` at 0, rising to 1.0 at ``warmup_iters``."""
    if iteration >= warmup_iters or warmup_iters <= 0:
        return 1.0
    alpha = iteration / warmup_iters
    return start_factor * (1.0 - alpha) + alpha


def multistep_factor(iteration: int, *, steps: Sequence[int], gamma: float) -> float:
    """``gamma ** n`` where ``n`` counts the steps already reached (``step <= iteration``)."""
    return gamma ** bisect.bisect_right(list(steps), iteration)


def cosine_factor(iteration: int, *, max_iter: int, final_factor: float = 0.0) -> float:
    """Half-cosine from 1.0 at iteration 0 to ``final_factor`` at ``max_iter`` (Loshchilov & Hutter
    2017, SGDR, eq. 5 without restarts)."""
    progress = min(max(iteration, 0), max_iter) / max_iter
    return final_factor + (1.0 - final_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))


class WarmupSchedule:
    """``iteration -> LR multiplier`` for :class:`torch.optim.lr_scheduler.LambdaLR`.

    A plain object (not a closure) so LambdaLR's ``state_dict`` records its parameters and a
    checkpoint holds the whole schedule.
    """

    def __init__(
        self,
        *,
        name: str,
        max_iter: int,
        warmup_iters: int,
        warmup_start_factor: float,
        steps: Sequence[int] = (),
        gamma: float = 0.1,
        final_factor: float = 0.0,
    ) -> None:
        if name not in LR_SCHEDULES:
            raise ValueError(f"LR schedule {name!r}; expected one of {list(LR_SCHEDULES)}")
        if max_iter < 1:
            raise ValueError(f"max_iter = {max_iter}; expected >= 1")
        if warmup_iters < 0 or not 0.0 < warmup_start_factor <= 1.0:
            raise ValueError(
                f"warmup_iters = {warmup_iters} must be >= 0 and warmup_start_factor = "
                f"{warmup_start_factor} in (0, 1]"
            )
        if list(steps) != sorted(steps):
            raise ValueError(f"multistep steps = {list(steps)} must be increasing")
        self.name = name
        self.max_iter = int(max_iter)
        self.warmup_iters = int(warmup_iters)
        self.warmup_start_factor = float(warmup_start_factor)
        self.steps = [int(s) for s in steps]
        self.gamma = float(gamma)
        self.final_factor = float(final_factor)

    def __call__(self, iteration: int) -> float:
        if self.name == "multistep":
            main = multistep_factor(iteration, steps=self.steps, gamma=self.gamma)
        else:
            main = cosine_factor(iteration, max_iter=self.max_iter, final_factor=self.final_factor)
        return main * warmup_factor(
            iteration, warmup_iters=self.warmup_iters, start_factor=self.warmup_start_factor
        )


def make_lr_scheduler(optimizer: torch.optim.Optimizer, schedule: WarmupSchedule) -> LambdaLR:
    """A LambdaLR applying ``schedule`` to every parameter group; call ``step()`` once per iteration."""
    return LambdaLR(optimizer, lr_lambda=schedule)
