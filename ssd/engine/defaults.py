"""The training run as a class with builders and hooks (detectron2's ``DefaultTrainer``).

:class:`DefaultTrainer` builds the parts of a run from the config through overridable
``build_*`` methods, starts from the last checkpoint in OUTPUT_DIR or ``MODEL.WEIGHTS``
(:meth:`~DefaultTrainer.resume_or_load`), and hands the loop (:class:`ssd.engine.trainer.Trainer`)
its hooks (:meth:`~DefaultTrainer.build_hooks`): logging and metrics, periodic checkpoints,
evaluation with the best checkpoint and the evaluation history. A subclass that overrides
``build_model`` / ``build_train_loader`` / ``build_test_loader`` / ``build_class_names`` /
``evaluate`` trains anything with the model and loader contracts (the engine tests use stand-ins).

Rank 0 writes in OUTPUT_DIR: ``config.yaml`` (an earlier, different one kept as
``config.<iteration>.yaml``), checkpoints, ``metrics.jsonl``, TensorBoard events,
``eval_history.jsonl``, ``model_best.pth`` + ``best.json``, ``weights_transfer.json`` (with
``MODEL.WEIGHTS``) and ``summary.json``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn
from yacs.config import CfgNode

from ..checkpoint.checkpointer import Checkpointer
from ..data import resolve_num_classes
from ..evaluation.schema import json_safe
from ..solver import build_ema, build_lr_scheduler, build_optimizer
from ..utils.run_lock import acquire_run_lock
from ..visualization.plots import write_training_curves
from .hooks import BestCheckpointer, EvalHook, HookBase, LoggingHook, PeriodicCheckpointer
from .precision import resolve_amp, resolve_channels_last
from .progress import LoggedProgress
from .resume import record_config
from .runner import Run, evaluate, prepare_for_world, truncate_jsonl
from .summary import format_summary, metric_entry, run_summary, write_summary
from .trainer import Trainer

logger = logging.getLogger(__name__)


class DefaultTrainer:
    """One training run of ``run.cfg``: ``DefaultTrainer(run).train()`` returns the loop
    :class:`~ssd.engine.trainer.Trainer` after its last step (its ``iter``, ``start_iter``,
    ``model``, ``ema``). ``resume``: continue from OUTPUT_DIR's last checkpoint when there is one;
    ``extra_hooks`` run after the built-in ones."""

    def __init__(self, run: Run, *, resume: bool = True, extra_hooks: Sequence[HookBase] = ()) -> None:
        self.run, self.cfg, self.device, self.rank = run, run.cfg, run.device, run.rank
        self.resume, self.extra_hooks = resume, list(extra_hooks)
        self.class_names = list(self.build_class_names(self.cfg))
        self.num_classes = resolve_num_classes(self.cfg.MODEL.NUM_CLASSES, self.class_names)
        self.writer: Any = None
        self.last: str | None = None  # the checkpoint this run resumed from
        self.final_eval: dict[str, Any] = {}

    # -- builders: override in a subclass ------------------------------------------------------
    @classmethod
    def build_class_names(cls, cfg: CfgNode) -> list[str]:
        from ..data import class_names_for

        return class_names_for(cfg)

    @classmethod
    def build_model(cls, cfg: CfgNode, *, num_classes: int) -> nn.Module:
        from ..modeling import build_model

        return build_model(cfg, num_classes=num_classes)

    @classmethod
    def build_optimizer(cls, cfg: CfgNode, model: nn.Module) -> torch.optim.Optimizer:
        return build_optimizer(cfg, model)

    @classmethod
    def build_lr_scheduler(cls, cfg: CfgNode, optimizer: torch.optim.Optimizer) -> Any:
        return build_lr_scheduler(cfg, optimizer)

    @classmethod
    def build_train_loader(cls, cfg: CfgNode, *, start_iter: int = 0, rank: int = 0, world_size: int = 1) -> Iterable:
        from ..data import build_train_loader

        return build_train_loader(cfg, start_iter=start_iter, rank=rank, world_size=world_size)

    @classmethod
    def build_test_loader(cls, cfg: CfgNode, name: str, *, rank: int = 0, world_size: int = 1) -> Iterable:
        from ..data import build_test_loader

        return build_test_loader(cfg, name, rank=rank, world_size=world_size)

    def evaluate(self, model: nn.Module, *, step: int) -> dict[str, dict[str, Any]]:
        """``{dataset: {task: result}}`` on rank 0 for every ``DATASETS.TEST`` set
        (:func:`ssd.engine.runner.evaluate` with this trainer's test loaders)."""
        build_loader = type(self).build_test_loader
        if not sys.stderr.isatty():  # no terminal for a tqdm bar: a log line every 10 s instead
            def build_loader(c, name, **kw):
                return LoggedProgress(type(self).build_test_loader(c, name, **kw), desc=f"evaluating on {name}")
        return evaluate(self.cfg, model, device=self.device, class_names=self.class_names,
                        build_test_loader=build_loader, writer=self.writer, step=step,
                        progress=sys.stderr.isatty())

    # -- the run ------------------------------------------------------------------------------
    def build_loop(self) -> Trainer:
        """Model (on the device, channels_last when chosen), optimizer, scheduler, EMA and the
        DistributedDataParallel wrapper, in the loop that steps them."""
        cfg, s = self.cfg, self.cfg.SOLVER
        amp_dtype = resolve_amp(s.AMP, self.device)
        channels_last = resolve_channels_last(s.CHANNELS_LAST, device=self.device, amp_dtype=amp_dtype)
        model = self.build_model(cfg, num_classes=self.num_classes).to(self.device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
            logger.info("SOLVER.CHANNELS_LAST = %s: training in channels_last (NHWC)", s.CHANNELS_LAST)
        self.checkpointer = self.build_checkpointer(model)
        # the weights first (resumed, or MODEL.WEIGHTS): the EMA starts as a copy of them
        state = self.checkpointer.resume_or_load(
            cfg.MODEL.WEIGHTS, resume=self.resume, class_map=dict(cfg.MODEL.WEIGHTS_CLASS_MAP),
            allow_partial=cfg.MODEL.WEIGHTS_ALLOW_PARTIAL, allow_model_change=s.RESUME_ALLOW_MODEL_CHANGE)
        self.last = self.checkpointer.resumed_from
        optimizer = self.build_optimizer(cfg, model)
        scheduler = self.build_lr_scheduler(cfg, optimizer)
        ema = build_ema(cfg, model)
        if ema is not None:
            logger.info("SOLVER.EMA_DECAY = %g (warm-up %g): evaluation and model_best.pth use the EMA weights",
                        s.EMA_DECAY, s.EMA_WARMUP)
        model = prepare_for_world(model, sync_bn=cfg.MODEL.SYNC_BN, device=self.device,
                                  world_size=self.run.world_size)
        loop = Trainer(model=model, optimizer=optimizer, scheduler=scheduler, device=self.device,
                       amp_dtype=amp_dtype, channels_last=channels_last, ema=ema, clip_grad_norm=s.CLIP_GRAD_NORM,
                       skip_nonfinite=s.SKIP_NONFINITE)
        if state is not None:
            loop.load_training_state(state)
            logger.info("resumed from %s at iteration %d (lr %.6g)", self.last, loop.iter,
                        loop.optimizer.param_groups[0]["lr"])
        return loop

    def build_checkpointer(self, model: nn.Module) -> Checkpointer:
        """The owner of OUTPUT_DIR's checkpoints for ``model`` (rank 0 writes)."""
        return Checkpointer(model, self.cfg.OUTPUT_DIR, config=self.cfg, class_names=self.class_names,
                            keep=self.cfg.SOLVER.KEEP_CHECKPOINTS, save_to_disk=self.rank == 0)

    def resume_or_load(self) -> None:
        """Build the loop: its model continues from OUTPUT_DIR's last checkpoint (refusing another
        model or other classes unless ``SOLVER.RESUME_ALLOW_MODEL_CHANGE``) with the optimizer,
        schedule, EMA and RNG state, else starts from ``MODEL.WEIGHTS`` or from scratch. Rank 0
        records the config."""
        self.loop = self.build_loop()
        if self.rank == 0:
            record_config(self.cfg.OUTPUT_DIR, self.cfg.dump(), iteration=self.loop.iter)

    def evaluate_and_record(self, iteration: int) -> dict[str, dict[str, Any]]:
        """Evaluate the shipped weights (``{dataset: {task: result}}``, ``{}`` without test sets or
        off rank 0); rank 0 appends them to ``eval_history.jsonl``."""
        cfg = self.cfg
        if not cfg.DATASETS.TEST:
            return {}
        results = self.evaluate(self.loop.eval_model, step=iteration)
        if self.rank != 0:
            return {}
        with open(os.path.join(cfg.OUTPUT_DIR, "eval_history.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(json_safe({"iteration": iteration, "results": results})) + "\n")
        name = cfg.DATASETS.TEST[0]
        self.final_eval.update(metric_entry(iteration=iteration, dataset=name, result=results[name]))
        return results

    def build_hooks(self) -> list[HookBase]:
        """Logging + ``metrics.jsonl``, periodic checkpoints, periodic evaluation, the best
        checkpoint (after each evaluation), then ``extra_hooks``."""
        s = self.cfg.SOLVER
        metrics_path = os.path.join(self.cfg.OUTPUT_DIR, "metrics.jsonl") if self.rank == 0 else None
        hooks: list[HookBase] = [
            LoggingHook(period=s.LOG_PERIOD, writer=self.writer, metrics_path=metrics_path),
            PeriodicCheckpointer(self.checkpointer, period=s.CHECKPOINT_PERIOD),
        ]
        if self.cfg.DATASETS.TEST:
            evaluation = EvalHook(period=s.EVAL_PERIOD, evaluate=self.evaluate_and_record)
            hooks += [evaluation, BestCheckpointer(self.checkpointer, eval_hook=evaluation,
                                                   dataset=self.cfg.DATASETS.TEST[0])]
        return [*hooks, *self.extra_hooks]

    def _open_outputs(self) -> None:
        """Rank 0: TensorBoard (purging steps a resumed run repeats), ``metrics.jsonl`` cut to the
        resumed iteration, and the best checkpoint's record."""
        if self.rank != 0:
            return
        from torch.utils.tensorboard import SummaryWriter

        out, start = self.cfg.OUTPUT_DIR, self.loop.iter
        self.writer = SummaryWriter(log_dir=os.path.join(out, "tensorboard"), purge_step=start)
        truncate_jsonl(os.path.join(out, "metrics.jsonl"), after=start)
        self.checkpointer.open_best()

    def train(self) -> Trainer:
        """Resume or load, train to ``SOLVER.MAX_ITER`` (a run already there but never evaluated at
        the end, e.g. after a failed final evaluation, only evaluates), write the summary. Rank 0
        holds OUTPUT_DIR's run lock meanwhile: a second run on the same folder refuses to start."""
        lock = acquire_run_lock(self.cfg.OUTPUT_DIR) if self.rank == 0 else None
        try:
            if lock is not None:  # config.yaml follows in resume_or_load, after comparing it with a checkpoint's
                with open(os.path.join(self.cfg.OUTPUT_DIR, "env.json"), "w", encoding="utf-8") as f:
                    json.dump(self.run.env, f, indent=2)
            return self._train()
        finally:
            if lock is not None:
                lock.release()

    def _train(self) -> Trainer:
        started = time.perf_counter()
        self.resume_or_load()
        loop, max_iter = self.loop, self.cfg.SOLVER.MAX_ITER
        finished = loop.iter >= max_iter
        if finished and (self.rank != 0 or os.path.isfile(os.path.join(self.cfg.OUTPUT_DIR, "summary.json"))):
            logger.info("%s already holds iteration %d = SOLVER.MAX_ITER; nothing to train", self.last, loop.iter)
            return loop
        self._open_outputs()
        try:
            if finished:  # the summary is missing: the end of the run did not complete
                logger.info("%s holds iteration %d = SOLVER.MAX_ITER but the run has no summary.json: "
                            "running its final evaluation", self.last, loop.iter)
                loop.start_iter = loop.max_iter = loop.iter
                results = self.evaluate_and_record(loop.iter)
                if results:
                    self.checkpointer.update_best(loop.weights_state, iteration=loop.iter,
                                                  dataset=self.cfg.DATASETS.TEST[0],
                                                  result=results[self.cfg.DATASETS.TEST[0]])
            else:
                loop.register_hooks(self.build_hooks())
                data = self.build_train_loader(self.cfg, start_iter=loop.iter, rank=self.rank,
                                               world_size=self.run.world_size)
                loop.train(data, max_iter=max_iter)
            if self.rank == 0:
                write_training_curves(self.cfg.OUTPUT_DIR, writer=self.writer)
        finally:
            if self.writer is not None:
                self.writer.close()
        if self.rank == 0:
            self.write_summary(time.perf_counter() - started)
        return loop

    def write_summary(self, wall_time_s: float) -> None:
        loop, best = self.loop, self.checkpointer.open_best()
        summary = run_summary(
            wall_time_s=wall_time_s, start_iter=loop.start_iter, end_iter=loop.iter, max_iter=loop.max_iter,
            final=self.final_eval or None, best=best.record,
            final_checkpoint=self.checkpointer.last_checkpoint(),
            best_checkpoint=best.path if best.record else None, has_ema=loop.ema is not None,
            config_file=os.path.join(self.cfg.OUTPUT_DIR, "config.yaml"),
        )
        write_summary(self.cfg.OUTPUT_DIR, summary)
        logger.info("%s", format_summary(summary))


def train(
    run: Run, *, trainer_class: type[DefaultTrainer] = DefaultTrainer, resume: bool = True,
    extra_hooks: Sequence[HookBase] = (),
) -> Trainer:
    """``trainer_class(run, resume=resume, extra_hooks=extra_hooks).train()``: train as ``run.cfg``
    says, resuming from the last checkpoint in OUTPUT_DIR when there is one."""
    return trainer_class(run, resume=resume, extra_hooks=extra_hooks).train()
