"""Iteration-based trainer: ``run_step`` does one optimisation step, hooks do everything else."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from ..utils.distributed import reduce_mean
from .hooks import HookBase

logger = logging.getLogger(__name__)

AMP_DTYPES = {"off": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def nonfinite_message(iteration: int, losses: dict[str, float]) -> str:
    """The error raised (or logged, when skipping) for a non-finite loss at 1-based ``iteration``."""
    terms = ", ".join(f"{k}={v:.6g}" for k, v in losses.items())
    return (
        f"non-finite loss at iteration {iteration}: {terms}. Lower SOLVER.LR, check the data, or set "
        "SOLVER.SKIP_NONFINITE True to skip such steps"
    )


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


class Trainer:
    """Runs iterations ``start_iter .. max_iter - 1``; ``data`` yields ``(images, targets, infos)``
    batches (``images`` Tensor[B, 3, S, S] 0-255 RGB, ``targets`` per image ``{"boxes" [N, 4] xyxy
    input pixels, "labels" [N]}``), at least ``max_iter - start_iter`` of them.

    ``model(images, targets)`` returns a dict of scalar losses; their sum is minimised. The loss
    values are averaged over ranks every step (one small all-reduce), so that logs show the global
    loss and all ranks agree on whether a step is finite.
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        data: Iterable,
        max_iter: int,
        device: torch.device,
        start_iter: int = 0,
        amp: str = "off",
        clip_grad_norm: float = 0.0,
        skip_nonfinite: bool = False,
        hooks: Sequence[HookBase] = (),
    ) -> None:
        if amp not in AMP_DTYPES:
            raise ValueError(f"amp = {amp!r}; expected one of {list(AMP_DTYPES)}")
        if amp != "off" and device.type != "cuda":
            logger.info("SOLVER.AMP = %s needs CUDA; training in float32 on %s", amp, device)
            amp = "off"
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.data, self.max_iter, self.device = data, max_iter, device
        self.start_iter = self.iter = self.completed = start_iter
        self.amp_dtype = AMP_DTYPES[amp]
        # the scaler only matters for fp16 (bf16 has float32's exponent range)
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")
        self.clip_grad_norm = clip_grad_norm
        self.skip_nonfinite = skip_nonfinite
        self.skipped_steps = 0
        self.step_info: dict[str, Any] = {}
        self.hooks: list[HookBase] = []
        self.register_hooks(hooks)

    def register_hooks(self, hooks: Sequence[HookBase]) -> None:
        for h in hooks:
            h.trainer = self
            self.hooks.append(h)

    def train(self) -> None:
        logger.info("training iterations %d..%d", self.start_iter + 1, self.max_iter)
        self._data_iter = iter(self.data)
        self.model.train()
        for h in self.hooks:
            h.before_train()
        try:
            for iteration in range(self.start_iter, self.max_iter):
                self.iter = iteration
                for h in self.hooks:
                    h.before_step()
                self.run_step()
                for h in self.hooks:
                    h.after_step()
        finally:
            for h in self.hooks:
                h.after_train()

    def run_step(self) -> None:
        start = time.perf_counter()
        images, targets, _ = next(self._data_iter)
        data_time = time.perf_counter() - start
        images = images.to(self.device, non_blocking=True)
        targets = [{k: v.to(self.device, non_blocking=True) for k, v in t.items()} for t in targets]
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            loss_dict = self.model(images, targets)
        loss = sum(loss_dict.values())
        reported = {k: float(v.detach()) for k, v in reduce_mean({**loss_dict, "loss": loss}).items()}
        reported = {**{k: reported[k] for k in loss_dict}, "loss": reported["loss"]}
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.zero_grad(set_to_none=True)
        if not all(math.isfinite(v) for v in reported.values()):
            message = nonfinite_message(self.iter + 1, reported)
            if not self.skip_nonfinite:
                raise FloatingPointError(message)
            self.skipped_steps += 1
            logger.warning("%s; step skipped (%d so far)", message, self.skipped_steps)
        else:
            self.scaler.scale(loss).backward()
            if self.clip_grad_norm > 0:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        self.scheduler.step()
        self.completed = self.iter + 1
        self.step_info = {"losses": reported, "lr": lr, "data_time": data_time, "skipped": self.skipped_steps}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly after the last completed iteration."""
        state = {
            "model": unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "iteration": self.completed,
            "skipped_steps": self.skipped_steps,
            "rng": {"torch": torch.get_rng_state()},
        }
        if self.device.type == "cuda":
            state["rng"]["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        unwrap(self.model).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        # The schedule's shape (warmup, steps, MAX_ITER) comes from the current config, so a run can be
        # extended; position and base LR come from the checkpoint.
        scheduler_state = dict(state["scheduler"])
        scheduler_state["lr_lambdas"] = [None] * len(scheduler_state.get("lr_lambdas", []))
        self.scheduler.load_state_dict(scheduler_state)
        for group, base_lr, fn in zip(
            self.optimizer.param_groups, self.scheduler.base_lrs, self.scheduler.lr_lambdas, strict=True
        ):
            group["lr"] = base_lr * fn(self.scheduler.last_epoch)
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.start_iter = self.iter = self.completed = int(state["iteration"])
        self.skipped_steps = int(state.get("skipped_steps", 0))
        rng = state.get("rng", {})
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], self.device)
