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

from ..checkpoint import io as ckpt_io
from ..checkpoint import load_pretrained_weights
from ..data import resolve_num_classes
from ..evaluation.schema import json_safe
from ..solver import build_ema, build_lr_scheduler, build_optimizer
from ..utils import checkpoint as ckpt
from ..utils.run_lock import acquire_run_lock
from ..visualization.plots import write_training_curves
from .best import BestCheckpoint
from .hooks import CheckpointHook, EvalHook, HookBase, LoggingHook
from .precision import resolve_amp, resolve_channels_last
from .progress import LoggedProgress
from .resume import check_resume, record_config
from .runner import Run, evaluate, prepare_for_world, truncate_jsonl
from .summary import format_summary, metric_entry, run_summary, write_summary
from .trainer import Trainer, unwrap

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
        self.best: BestCheckpoint | None = None
        self.saved: list[str] = []
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
        self.last = ckpt.last_checkpoint(cfg.OUTPUT_DIR) if self.resume else None
        if not self.last and cfg.MODEL.WEIGHTS:
            self.load_weights(model)
        optimizer = self.build_optimizer(cfg, model)
        scheduler = self.build_lr_scheduler(cfg, optimizer)
        ema = build_ema(cfg, model)
        if ema is not None:
            logger.info("SOLVER.EMA_DECAY = %g (warm-up %g): evaluation and model_best.pth use the EMA weights",
                        s.EMA_DECAY, s.EMA_WARMUP)
        model = prepare_for_world(model, sync_bn=cfg.MODEL.SYNC_BN, device=self.device,
                                  world_size=self.run.world_size)
        return Trainer(model=model, optimizer=optimizer, scheduler=scheduler, device=self.device,
                       amp_dtype=amp_dtype, channels_last=channels_last, ema=ema, clip_grad_norm=s.CLIP_GRAD_NORM,
                       skip_nonfinite=s.SKIP_NONFINITE)

    def load_weights(self, model: nn.Module) -> None:
        """``MODEL.WEIGHTS`` into ``model``, carried over to this run's classes
        (:func:`ssd.checkpoint.load_pretrained_weights`)."""
        cfg = self.cfg
        weights = ckpt_io.load_checkpoint(cfg.MODEL.WEIGHTS, option="MODEL.WEIGHTS")
        load_pretrained_weights(model, weights, source=cfg.MODEL.WEIGHTS, class_names=self.class_names,
                                class_map=dict(cfg.MODEL.WEIGHTS_CLASS_MAP),
                                allow_partial=cfg.MODEL.WEIGHTS_ALLOW_PARTIAL, config=cfg,
                                num_classes=self.num_classes, output_dir=cfg.OUTPUT_DIR if self.rank == 0 else None)
        logger.info("initialised the model from MODEL.WEIGHTS = %s", cfg.MODEL.WEIGHTS)

    def resume_or_load(self) -> None:
        """Build the loop; continue from OUTPUT_DIR's last checkpoint (refusing another model or
        other classes unless ``SOLVER.RESUME_ALLOW_MODEL_CHANGE``), else start from
        ``MODEL.WEIGHTS`` or from scratch. Rank 0 records the config."""
        cfg = self.cfg
        if self.rank == 0:
            ckpt.remove_stale_temp_files(cfg.OUTPUT_DIR)
        self.loop = loop = self.build_loop()
        if self.last:
            state = ckpt_io.load_checkpoint(self.last)
            check_resume(state, source=self.last, config=cfg, class_names=self.class_names,
                         allow_model_change=cfg.SOLVER.RESUME_ALLOW_MODEL_CHANGE)
            weights = ckpt_io.model_state(state, source=self.last, ema=False)
            message = ckpt_io.mismatch_message(state, source=self.last, weights=weights, model=unwrap(loop.model),
                                               config=cfg, num_classes=self.num_classes)
            if message:
                raise ValueError(message)
            loop.load_state_dict(state)
            logger.info("resumed from %s at iteration %d (lr %.6g)", self.last, loop.iter,
                        loop.optimizer.param_groups[0]["lr"])
        if self.rank == 0:
            record_config(cfg.OUTPUT_DIR, cfg.dump(), iteration=loop.iter)

    def checkpoint_state(self) -> dict[str, Any]:
        """What ``model_<iteration>.pth`` holds: the loop's state, the config and the class names."""
        return {**self.loop.state_dict(), "config": self.cfg.dump(), "class_names": self.class_names}

    def best_weights(self) -> dict[str, Any]:
        """What ``model_best.pth`` holds: the weights (EMA too), the config and the class names."""
        loop = self.loop
        weights = {"model": unwrap(loop.model).state_dict(), "iteration": loop.iter, "config": self.cfg.dump(),
                   "class_names": self.class_names}
        if loop.ema is not None:
            weights["model_ema"] = loop.ema.state_dict()
        return weights

    def save_checkpoint(self, iteration: int) -> None:
        state = self.checkpoint_state()
        # on every rank (they hold the same weights), so that all stop together on a non-finite model
        ckpt.check_finite(state, what=f"the checkpoint of iteration {iteration}")
        if self.rank == 0:
            self.saved.append(ckpt.save_checkpoint(state, directory=self.cfg.OUTPUT_DIR, iteration=iteration,
                                                   keep=self.cfg.SOLVER.KEEP_CHECKPOINTS))

    def evaluate_and_record(self, iteration: int) -> None:
        """Evaluate the shipped weights; rank 0 appends to ``eval_history.jsonl`` and updates the
        best checkpoint from the first test set."""
        cfg = self.cfg
        if not cfg.DATASETS.TEST:
            return
        results = self.evaluate(self.loop.eval_model, step=iteration)
        if self.rank != 0:
            return
        with open(os.path.join(cfg.OUTPUT_DIR, "eval_history.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(json_safe({"iteration": iteration, "results": results})) + "\n")
        name = cfg.DATASETS.TEST[0]
        self.final_eval.update(metric_entry(iteration=iteration, dataset=name, result=results[name]))
        self.best.update(iteration=iteration, dataset=name, result=results[name])

    def build_hooks(self) -> list[HookBase]:
        """Logging + ``metrics.jsonl``, periodic checkpoints, periodic evaluation (with the best
        checkpoint), then ``extra_hooks``."""
        s = self.cfg.SOLVER
        metrics_path = os.path.join(self.cfg.OUTPUT_DIR, "metrics.jsonl") if self.rank == 0 else None
        return [
            LoggingHook(period=s.LOG_PERIOD, writer=self.writer, metrics_path=metrics_path),
            CheckpointHook(period=s.CHECKPOINT_PERIOD, save=self.save_checkpoint),
            EvalHook(period=s.EVAL_PERIOD, evaluate=self.evaluate_and_record),
            *self.extra_hooks,
        ]

    def _open_outputs(self) -> None:
        """Rank 0: TensorBoard (purging steps a resumed run repeats), ``metrics.jsonl`` cut to the
        resumed iteration, and the best checkpoint's record."""
        if self.rank != 0:
            return
        from torch.utils.tensorboard import SummaryWriter

        out, start = self.cfg.OUTPUT_DIR, self.loop.iter
        self.writer = SummaryWriter(log_dir=os.path.join(out, "tensorboard"), purge_step=start)
        truncate_jsonl(os.path.join(out, "metrics.jsonl"), after=start)
        self.best = BestCheckpoint(directory=out, weights=self.best_weights)

    def train(self) -> Trainer:
        """Resume or load, train to ``SOLVER.MAX_ITER`` (a run already there but never evaluated at
        the end, e.g. after a failed final evaluation, only evaluates), write the summary. Rank 0
        holds OUTPUT_DIR's run lock meanwhile: a second run on the same folder refuses to start."""
        lock = acquire_run_lock(self.cfg.OUTPUT_DIR) if self.rank == 0 else None
        try:
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
                self.evaluate_and_record(loop.iter)
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
        loop, best = self.loop, self.best
        summary = run_summary(
            wall_time_s=wall_time_s, start_iter=loop.start_iter, end_iter=loop.iter, max_iter=loop.max_iter,
            final=self.final_eval or None, best=best.record,
            final_checkpoint=self.saved[-1] if self.saved else self.last,
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
