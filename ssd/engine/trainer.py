"""Iteration-based trainer: ``run_step`` does one optimisation step, hooks do everything else."""

from __future__ import annotations

import logging
import math
import time
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from ..solver.ema import ModelEma
from ..utils.checkpoint import check_finite
from ..utils.distributed import all_reduce_sum, reduce_mean
from .hooks import HookBase
from .precision import AMP_DTYPES

logger = logging.getLogger(__name__)

__all__ = ["AMP_DTYPES", "Trainer", "nonfinite_message", "unwrap"]


def _nonfinite_buffer(model: nn.Module) -> str | None:
    """The name of the first floating-point buffer (running statistics) of ``model`` holding a NaN
    or an infinity on any rank (``"a buffer on another rank"`` when only another rank has one), else
    None. Every rank decides alike: one all-reduce and one device synchronisation per step."""
    named = [(n, b) for n, b in unwrap(model).named_buffers() if b.is_floating_point()]
    if not named:
        return None
    finite = torch.stack([torch.isfinite(b).all() for _, b in named]).all().float()
    if float(all_reduce_sum(1.0 - finite)) == 0:
        return None
    return next((n for n, b in named if not bool(torch.isfinite(b).all())), "a buffer on another rank")


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
    """Runs the optimisation steps ``start_iter .. max_iter - 1`` given to :meth:`train`.

    One counter, ``iter``: the optimizer steps completed so far (skipped non-finite ones included),
    the checkpoints' ``iteration``. A hook's ``before_step`` sees the 0-based index of the step
    about to run, its ``after_step`` the count including it; ``start_iter`` and ``max_iter`` are the
    bounds of the current :meth:`train` call (detectron2's ``TrainerBase.train``).

    ``data`` yields ``(images, targets, infos)`` batches (``images`` Tensor[B, 3, S, S] 0-255 RGB,
    ``targets`` per image ``{"boxes" [N, 4] xyxy input pixels, "labels" [N]}``).
    ``model(images, targets)`` returns a dict of scalar losses; their sum is minimised. The loss
    values are averaged over ranks every step (one small all-reduce), so that logs show the global
    loss and all ranks agree on whether a step is finite.

    ``amp_dtype`` is the autocast dtype (``None`` = float32; see :mod:`ssd.engine.precision`);
    ``channels_last`` sends the images in NHWC (the model is converted by its builder);
    ``ema`` is updated after every applied step.
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        device: torch.device,
        amp_dtype: torch.dtype | None = None,
        channels_last: bool = False,
        ema: ModelEma | None = None,
        clip_grad_norm: float = 0.0,
        skip_nonfinite: bool = False,
        hooks: Sequence[HookBase] = (),
    ) -> None:
        if amp_dtype is not None and amp_dtype not in AMP_DTYPES.values():
            raise ValueError(f"amp_dtype = {amp_dtype}; expected one of {list(AMP_DTYPES.values())}")
        self.model, self.optimizer, self.scheduler, self.device = model, optimizer, scheduler, device
        self.amp_dtype, self.channels_last, self.ema = amp_dtype, channels_last, ema
        # the scaler only matters for fp16 (bf16 has float32's exponent range)
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype is torch.float16)
        self.clip_grad_norm = clip_grad_norm
        self.skip_nonfinite = skip_nonfinite
        self.iter = self.start_iter = self.max_iter = 0
        self.skipped_steps = 0
        self.step_info: dict[str, Any] = {}
        self.hooks: list[HookBase] = []
        self.register_hooks(hooks)

    def register_hooks(self, hooks: Sequence[HookBase]) -> None:
        for h in hooks:
            h.trainer = weakref.proxy(self)  # hooks live in the trainer: no reference cycle
            self.hooks.append(h)

    @property
    def eval_model(self) -> nn.Module:
        """What evaluation and the shipped weights use: the EMA when there is one."""
        return self.ema.module if self.ema is not None else unwrap(self.model)

    def train(self, data: Iterable, *, max_iter: int) -> None:
        """Steps ``self.iter .. max_iter - 1`` on ``data`` (at least that many batches), then check
        that every parameter and buffer is finite (``FloatingPointError`` otherwise)."""
        self.start_iter, self.max_iter = self.iter, max_iter
        logger.info("training iterations %d..%d", self.start_iter + 1, self.max_iter)
        self._data_iter = iter(data)
        self.model.train()
        for h in self.hooks:
            h.before_train()
        try:
            while self.iter < self.max_iter:
                for h in self.hooks:
                    h.before_step()
                self.run_step()
                for h in self.hooks:
                    h.after_step()
            check_finite(self.state_dict(), what=f"the model after iteration {self.iter}")
        finally:
            for h in self.hooks:
                h.after_train()

    def run_step(self) -> None:
        start = time.perf_counter()
        images, targets, _ = next(self._data_iter)
        data_time = time.perf_counter() - start
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        images = images.to(self.device, non_blocking=True, memory_format=memory_format)
        targets = [{k: v.to(self.device, non_blocking=True) for k, v in t.items()} for t in targets]
        # a skipped step must leave the buffers (BatchNorm running statistics) as they were too:
        # the training-mode forward updates them before the loss can be checked
        saved_buffers = [b.detach().clone() for b in self.model.buffers()] if self.skip_nonfinite else None
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            loss_dict = self.model(images, targets)
        loss = sum(loss_dict.values())
        reported = {k: float(v.detach()) for k, v in reduce_mean({**loss_dict, "loss": loss}).items()}
        reported = {**{k: reported[k] for k in loss_dict}, "loss": reported["loss"]}
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.zero_grad(set_to_none=True)
        message = None
        if not all(math.isfinite(v) for v in reported.values()):
            message = nonfinite_message(self.iter + 1, reported)
        else:
            self.scaler.scale(loss).backward()
            grad_norm = None
            if self.clip_grad_norm > 0:
                self.scaler.unscale_(self.optimizer)
                grad_norm = nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
            # a finite loss can still give NaN gradients (0 * inf in a backward, bf16 overflow); the fp16
            # scaler skips those steps itself, otherwise they would write NaN into the weights
            if not self.scaler.is_enabled():
                if grad_norm is None:  # the clipping above already measured it
                    grads = [p.grad for p in self.model.parameters() if p.grad is not None]
                    grad_norm = nn.utils.get_total_norm(grads) if grads else None
                if grad_norm is not None and not bool(torch.isfinite(grad_norm).item()):
                    message = nonfinite_message(self.iter + 1, reported).replace("non-finite loss",
                                                                                 "non-finite gradient", 1)
        if message is None:
            # a diverging run can overflow BatchNorm's running statistics while its loss stays finite:
            # the next evaluation (and every later step) would read them
            bad = _nonfinite_buffer(self.model)
            if bad is not None:
                message = nonfinite_message(self.iter + 1, reported).replace(
                    "non-finite loss", f"non-finite BatchNorm statistics ({bad})", 1)
        if message is not None:
            if not self.skip_nonfinite:
                raise FloatingPointError(message)
            self.optimizer.zero_grad(set_to_none=True)
            with torch.no_grad():
                for buffer, saved in zip(self.model.buffers(), saved_buffers, strict=True):
                    buffer.copy_(saved)
            self.skipped_steps += 1
            logger.warning("%s; step skipped (%d so far), parameters and buffers unchanged", message,
                           self.skipped_steps)
        else:
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.ema is not None:
                self.ema.update(unwrap(self.model))
        self.scheduler.step()
        self.iter += 1
        self.step_info = {"losses": reported, "lr": lr, "data_time": data_time, "skipped": self.skipped_steps}

    def weights_state(self) -> dict[str, Any]:
        """The weights: ``model`` (trained), ``model_ema`` (with EMA) and ``iteration``."""
        state: dict[str, Any] = {"model": unwrap(self.model).state_dict(), "iteration": self.iter}
        if self.ema is not None:
            state["model_ema"] = self.ema.state_dict()
        return state

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly after the last completed iteration."""
        state = {
            "model": unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "iteration": self.iter,
            "skipped_steps": self.skipped_steps,
            "rng": {"torch": torch.get_rng_state()},
        }
        if self.ema is not None:
            state["model_ema"] = self.ema.state_dict()
            state.update(self.ema.extra_state())
        if self.device.type == "cuda":
            state["rng"]["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_training_state(self, state: dict[str, Any]) -> None:
        """Continue after ``state`` (a :meth:`state_dict`): optimizer, scheduler position, scaler,
        EMA, iteration and RNG. The model's weights are loaded by the Checkpointer
        (:meth:`ssd.checkpoint.Checkpointer.resume`), which checks that they are this model's."""
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
        if self.ema is not None:
            if "model_ema" in state:
                self.ema.load_state_dict(state["model_ema"], updates=int(state.get("ema_updates", 0)))
            else:
                logger.info("the checkpoint has no EMA weights: the EMA starts from its trained weights")
                self.ema.load_state_dict(unwrap(self.model).state_dict(), updates=0)
        self.iter = int(state["iteration"])
        self.skipped_steps = int(state.get("skipped_steps", 0))
        rng = state.get("rng", {})
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], self.device)
