"""Trainer hooks: timing and log lines, TensorBoard, periodic checkpoints, periodic evaluation.

A hook sees the trainer after every step through ``trainer.iter`` (0-based index of the step just
run) and ``trainer.step_info`` (the step's losses averaged over ranks, LR and data time).
"""

from __future__ import annotations

import datetime
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

import torch

logger = logging.getLogger(__name__)


class HookBase:
    trainer: Any = None

    def before_train(self) -> None: ...

    def after_train(self) -> None: ...

    def before_step(self) -> None: ...

    def after_step(self) -> None: ...


def _is_period_end(completed: int, period: int, max_iter: int) -> bool:
    return completed == max_iter or (period > 0 and completed % period == 0)


class LoggingHook(HookBase):
    """Every ``period`` iterations: a log line (iteration, losses, LR, time/iter, data time, ETA,
    peak CUDA memory) and the same numbers as TensorBoard scalars (``writer`` may be None)."""

    def __init__(self, *, period: int, max_iter: int, writer: Any = None, window: int = 20):
        self.period = max(1, period)
        self.max_iter = max_iter
        self.writer = writer
        self.window = window

    def before_train(self) -> None:
        self._values: dict[str, deque] = defaultdict(lambda: deque(maxlen=self.window))
        self._last = time.perf_counter()
        self._first_logged = False

    def after_step(self) -> None:
        now = time.perf_counter()
        info = self.trainer.step_info
        step_time, self._last = now - self._last, now
        if self._first_logged:  # the first step pays for warm-up (workers, allocator): keep it out
            self._values["time"].append(step_time)
        self._first_logged = True
        self._values["data_time"].append(info["data_time"])
        for k, v in info["losses"].items():
            self._values[k].append(v)
        completed = self.trainer.iter + 1
        if not _is_period_end(completed, self.period, self.max_iter):
            return
        avg = {k: sum(v) / len(v) for k, v in self._values.items() if v}
        step_s = avg.get("time", step_time)
        eta = datetime.timedelta(seconds=int(step_s * (self.max_iter - completed)))
        losses = "  ".join(f"{k}: {v:.4f} ({avg[k]:.4f})" for k, v in info["losses"].items())
        line = (
            f"iter: {completed}/{self.max_iter}  {losses}  lr: {info['lr']:.6f}  "
            f"time: {step_s:.3f}s  data: {avg['data_time']:.3f}s  eta: {eta}"
        )
        if torch.cuda.is_available() and self.trainer.device.type == "cuda":
            line += f"  max_mem: {torch.cuda.max_memory_allocated(self.trainer.device) / 2**20:.0f}MB"
        if info.get("skipped"):
            line += f"  skipped_nonfinite: {info['skipped']}"
        logger.info(line)
        if self.writer is not None:
            for k, v in info["losses"].items():
                self.writer.add_scalar(f"train/{k}", v, completed)
            self.writer.add_scalar("train/lr", info["lr"], completed)
            self.writer.add_scalar("train/time_per_iter", step_s, completed)
            self.writer.add_scalar("train/data_time", avg["data_time"], completed)


class CheckpointHook(HookBase):
    """Calls ``save(completed_iterations)`` every ``period`` iterations and after the last one."""

    def __init__(self, *, period: int, max_iter: int, save: Callable[[int], Any]):
        self.period, self.max_iter, self.save = period, max_iter, save

    def after_step(self) -> None:
        completed = self.trainer.iter + 1
        if _is_period_end(completed, self.period, self.max_iter):
            self.save(completed)


class EvalHook(HookBase):
    """Calls ``evaluate(completed_iterations)`` every ``period`` iterations (0 = never in between)
    and after the last one, on every rank (inference is split across ranks). The model is put
    back in training mode afterwards."""

    def __init__(self, *, period: int, max_iter: int, evaluate: Callable[[int], Any]):
        self.period, self.max_iter, self.evaluate = period, max_iter, evaluate

    def after_step(self) -> None:
        completed = self.trainer.iter + 1
        if _is_period_end(completed, self.period, self.max_iter):
            self.evaluate(completed)
            self.trainer.model.train()
