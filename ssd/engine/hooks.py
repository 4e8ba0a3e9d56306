"""Trainer hooks: timing and log lines (+ ``metrics.jsonl``), TensorBoard, periodic checkpoints,
periodic evaluation, the best checkpoint (detectron2's ``engine/hooks.py``).

A hook reads the loop's state from the trainer: ``trainer.iter`` (steps completed; in
``after_step`` it includes the step just run), ``trainer.start_iter`` / ``trainer.max_iter`` (the
bounds of this ``train()`` call) and ``trainer.step_info`` (the step's losses averaged over ranks,
LR and data time).
"""

from __future__ import annotations

import datetime
import json
import logging
import resource
import sys
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

import torch

from ..checkpoint.checkpointer import Checkpointer

logger = logging.getLogger(__name__)


class HookBase:
    trainer: Any = None  # a weak proxy of the trainer, set by Trainer.register_hooks

    def before_train(self) -> None: ...

    def after_train(self) -> None: ...

    def before_step(self) -> None: ...

    def after_step(self) -> None: ...

    def period_end(self, period: int) -> bool:
        """True after the last step and after every ``period``-th (``period <= 0``: only the last)."""
        t = self.trainer
        return t.iter == t.max_iter or (period > 0 and t.iter % period == 0)


def peak_memory_mb(device: torch.device) -> float:
    """Peak CUDA memory allocated on ``device``, or this process's peak resident memory on a CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


class LoggingHook(HookBase):
    """Every ``period`` iterations: a log line (iteration, losses, LR, time/iter, data time, ETA,
    peak memory), the same numbers as TensorBoard scalars (``writer`` may be None) and as one JSON
    line appended to ``metrics_path`` (may be None): ``{"iteration", "loss_*", "loss", "lr",
    "time", "data_time", "memory_mb", "skipped_nonfinite"}`` with ``time`` / ``data_time`` the
    window means in seconds."""

    def __init__(self, *, period: int, writer: Any = None, metrics_path: str | None = None, window: int = 20):
        self.period = max(1, period)
        self.writer = writer
        self.metrics_path = metrics_path
        self.window = window

    def before_train(self) -> None:
        self._values: dict[str, deque] = defaultdict(lambda: deque(maxlen=self.window))
        self._last = time.perf_counter()
        self._first_logged = False

    def after_step(self) -> None:
        now = time.perf_counter()
        t, info = self.trainer, self.trainer.step_info
        step_time, self._last = now - self._last, now
        if self._first_logged:  # the first step pays for warm-up (workers, allocator): keep it out
            self._values["time"].append(step_time)
        self._first_logged = True
        self._values["data_time"].append(info["data_time"])
        for k, v in info["losses"].items():
            self._values[k].append(v)
        if not self.period_end(self.period):
            return
        avg = {k: sum(v) / len(v) for k, v in self._values.items() if v}
        step_s = avg.get("time", step_time)
        eta = datetime.timedelta(seconds=int(step_s * (t.max_iter - t.iter)))
        memory = peak_memory_mb(t.device)
        losses = "  ".join(f"{k}: {v:.4f} ({avg[k]:.4f})" for k, v in info["losses"].items())
        line = (
            f"iter: {t.iter}/{t.max_iter}  {losses}  lr: {info['lr']:.6f}  "
            f"time: {step_s:.3f}s  data: {avg['data_time']:.3f}s  eta: {eta}  max_mem: {memory:.0f}MB"
        )
        if info.get("skipped"):
            line += f"  skipped_nonfinite: {info['skipped']}"
        logger.info(line)
        if self.metrics_path is not None:
            record = {"iteration": t.iter, **info["losses"], "lr": info["lr"], "time": step_s,
                      "data_time": avg["data_time"], "memory_mb": round(memory, 1),
                      "skipped_nonfinite": info.get("skipped", 0)}
            with open(self.metrics_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for k, v in info["losses"].items():
                self.writer.add_scalar(f"train/{k}", v, t.iter)
            self.writer.add_scalar("train/lr", info["lr"], t.iter)
            self.writer.add_scalar("train/time_per_iter", step_s, t.iter)
            self.writer.add_scalar("train/data_time", avg["data_time"], t.iter)
            self.writer.add_scalar("train/memory_mb", memory, t.iter)


class PeriodicCheckpointer(HookBase):
    """``model_<iteration>.pth`` of the loop's state through ``checkpointer`` every ``period``
    iterations and after the last one (on every rank: each checks the weights are finite, the
    Checkpointer's writing rank writes)."""

    def __init__(self, checkpointer: Checkpointer, *, period: int):
        self.checkpointer, self.period = checkpointer, period

    def after_step(self) -> None:
        if self.period_end(self.period):
            self.checkpointer.save(self.trainer.state_dict(), iteration=self.trainer.iter)


class EvalHook(HookBase):
    """Calls ``evaluate(completed_iterations)`` every ``period`` iterations (0 = never in between)
    and after the last one, on every rank (inference is split across ranks), and keeps what it
    returned as ``latest`` (``(iteration, results)``). The model is put back in training mode."""

    def __init__(self, *, period: int, evaluate: Callable[[int], Any]):
        self.period, self.evaluate = period, evaluate
        self.latest: tuple[int, Any] | None = None

    def after_step(self) -> None:
        if self.period_end(self.period):
            self.latest = (self.trainer.iter, self.evaluate(self.trainer.iter))
            self.trainer.model.train()


class BestCheckpointer(HookBase):
    """After each evaluation of ``eval_hook`` (placed after it), ``model_best.pth`` through
    ``checkpointer`` when the result on ``dataset`` (``results[dataset]``, ``eval_hook``'s
    ``{dataset: {task: result}}``) is the best so far (the primary metric of
    :func:`ssd.evaluation.schema.primary_metric`). A rank without results writes nothing."""

    def __init__(self, checkpointer: Checkpointer, *, eval_hook: EvalHook, dataset: str):
        self.checkpointer, self.eval_hook, self.dataset = checkpointer, eval_hook, dataset

    def after_step(self) -> None:
        latest = self.eval_hook.latest
        if latest is not None and latest[0] == self.trainer.iter and latest[1]:
            self.checkpointer.update_best(self.trainer.weights_state, iteration=latest[0], dataset=self.dataset,
                                          result=latest[1][self.dataset])
