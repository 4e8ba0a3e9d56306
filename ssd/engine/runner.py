"""What tools/train.py and tools/test.py do: set a run up, train with resume, evaluate every test set.

The builders of the model and the loaders are parameters (defaulting to ``ssd.modeling`` and
``ssd.data``) so the engine can be exercised with stand-ins.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from yacs.config import CfgNode

from ..checkpoint import load_pretrained_weights
from ..checkpoint.loading import detector_from_checkpoint
from ..config import resolve_device
from ..data import resolve_num_classes
from ..data.class_layout import ClassLayout, scoring_layout
from ..evaluation import build_evaluator, scalars
from ..evaluation.schema import json_safe
from ..evaluation.writer import write_detections, write_metrics
from ..solver import build_ema, build_lr_scheduler, build_optimizer
from ..utils import checkpoint as ckpt
from ..utils.distributed import barrier, get_rank, get_world_size, init_distributed, is_main_process
from ..utils.env import collect_env, seed_everything
from ..utils.logger import setup_logger
from ..visualization.plots import write_eval_plots, write_training_curves
from .best import BestCheckpoint
from .hooks import CheckpointHook, EvalHook, HookBase, LoggingHook
from .inference import gather_detections, run_inference
from .precision import resolve_amp, resolve_channels_last
from .progress import LoggedProgress
from .resume import check_resume, record_config
from .scaling import scale_for_world
from .summary import format_summary, metric_entry, run_summary, write_summary
from .trainer import Trainer, unwrap

logger = logging.getLogger(__name__)


@dataclass
class Run:
    cfg: CfgNode  # after world-size scaling, frozen
    device: torch.device
    rank: int
    world_size: int


def setup_run(cfg: CfgNode, *, training: bool = True) -> Run:
    """Join torchrun's process group (if any), set up logging and seeds; for training also apply
    the world-size scaling keys and, on rank 0, save the environment in OUTPUT_DIR."""
    device = init_distributed(resolve_device(cfg.MODEL.DEVICE))
    rank, world_size = get_rank(), get_world_size()
    setup_logger(output_dir=cfg.OUTPUT_DIR, rank=rank)
    if training:
        cfg, notes = scale_for_world(cfg, world_size)
        for note in notes:
            logger.info(note)
    seed_everything(cfg.SEED)
    env = collect_env(world_size=world_size)
    logger.info("rank %d of %d on %s; environment: %s", rank, world_size, device, json.dumps(env))
    if training and rank == 0:  # config.yaml is written by train(), after comparing it with a checkpoint's
        os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
        with open(os.path.join(cfg.OUTPUT_DIR, "env.json"), "w", encoding="utf-8") as f:
            json.dump(env, f, indent=2)
    return Run(cfg=cfg, device=device, rank=rank, world_size=world_size)


def _default_builders() -> dict[str, Callable]:
    from ..data import build_test_loader, build_train_loader, class_names_for
    from ..modeling import build_model

    return {"model": build_model, "train_loader": build_train_loader, "test_loader": build_test_loader,
            "class_names": class_names_for}


def prepare_for_world(model: nn.Module, *, sync_bn: bool, device: torch.device, world_size: int) -> nn.Module:
    """SyncBatchNorm (CUDA only, logged either way) and the DistributedDataParallel wrapper."""
    if sync_bn:
        if world_size > 1 and device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            logger.info("MODEL.SYNC_BN: BatchNorm converted to SyncBatchNorm over %d processes", world_size)
        elif device.type != "cuda":
            logger.info("MODEL.SYNC_BN: SyncBatchNorm is not available on CPU; keeping BatchNorm")
        else:
            logger.info("MODEL.SYNC_BN: a single process has nothing to synchronise; keeping BatchNorm")
    if world_size > 1:
        ids = [device.index] if device.type == "cuda" else None
        model = nn.parallel.DistributedDataParallel(model, device_ids=ids, output_device=device.index if ids else None)
    return model


@dataclass
class DatasetEvaluation:
    """One test set after inference and evaluation, as :func:`iter_evaluations` yields it.

    ``detections`` (COCO results format, gathered from every rank, ordered by image id then score)
    and ``result`` (``{task: task_result}``, :mod:`ssd.evaluation.schema`) are filled on rank 0
    and empty elsewhere; both are already written to ``output_dir`` (``detections.json`` first,
    then ``metrics.json``, see :mod:`ssd.evaluation.writer`). ``dataset`` is the test dataset
    (``get_annotation(index)`` gives the ground truth; detections of VOC-format sets carry the
    index as ``image_id``).
    """

    name: str
    dataset: Any
    detections: list[dict[str, Any]]
    result: dict[str, Any]
    output_dir: str


def iter_evaluations(
    cfg: CfgNode,
    model: nn.Module,
    *,
    device: torch.device,
    class_names: list[str],
    builders: dict[str, Callable] | None = None,
    progress: bool = False,
    label_to_category_id: dict[int, int] | None = None,
) -> Iterator[DatasetEvaluation]:
    """Inference and evaluation on every ``DATASETS.TEST`` set in turn, this rank doing its share;
    rank 0 writes ``OUTPUT_DIR/inference/<dataset>/detections.json`` before the evaluator runs
    (a failing evaluator keeps the inference) and ``metrics.json`` after it.

    Every rank must consume the iterator to the end (it gathers across ranks). The model is in
    eval mode during inference and back in its own mode after (see ``inference_context``).
    ``label_to_category_id`` is the model's own label layout (a converted torchvision COCO model:
    90 labels, "N/A" slots included, label = category id); COCO test sets are then matched by
    category id instead of by class list."""
    builders = builders or _default_builders()
    rank, world_size = get_rank(), get_world_size()
    model = unwrap(model)
    for name in cfg.DATASETS.TEST:
        loader = builders["test_loader"](cfg, name, rank=rank, world_size=world_size)
        dataset = loader.dataset
        model_layout = ClassLayout(class_names, label_to_category_id)
        layout, own_layout = scoring_layout(model_layout, dataset.class_layout, name=name)
        mapping = layout.label_to_category_id
        evaluator = build_evaluator(cfg, dataset, class_names, mapping if own_layout else None)
        local = run_inference(model, loader, device=device, input_size=model.image_size, evaluator=evaluator,
                              label_to_category_id=mapping, progress=progress and rank == 0,
                              desc=f"inference on {name}")
        detections = gather_detections(local)
        output_dir = os.path.join(cfg.OUTPUT_DIR, "inference", name)
        if is_main_process():
            write_detections(output_dir, detections)
        result = evaluator.evaluate()
        if is_main_process():
            write_metrics(output_dir, result)
        barrier()
        yield DatasetEvaluation(name=name, dataset=dataset, detections=detections, result=result,
                                output_dir=output_dir)


def evaluate(
    cfg: CfgNode,
    model: nn.Module,
    *,
    device: torch.device,
    class_names: list[str],
    builders: dict[str, Callable] | None = None,
    writer: Any = None,
    step: int | None = None,
    progress: bool = False,
    label_to_category_id: dict[int, int] | None = None,
    on_dataset: Callable[[DatasetEvaluation], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Evaluate on every ``DATASETS.TEST`` set (:func:`iter_evaluations`). Rank 0 gets
    ``{dataset: {task: task_result}}`` and writes the TensorBoard scalars
    ``eval/<dataset>/<task>/<metric>`` (``schema.scalars``: undefined values left out); other
    ranks get ``{}``. ``on_dataset`` is called with each :class:`DatasetEvaluation` on every
    rank (e.g. to draw PR curves on rank 0)."""
    results: dict[str, dict[str, Any]] = {}
    for evaluation in iter_evaluations(cfg, model, device=device, class_names=class_names, builders=builders,
                                       progress=progress, label_to_category_id=label_to_category_id):
        if on_dataset is not None:
            on_dataset(evaluation)
        if is_main_process():
            results[evaluation.name] = evaluation.result
            write_eval_plots(evaluation.output_dir, dataset=evaluation.dataset, detections=evaluation.detections,
                             class_names=evaluation.dataset.class_names, score_threshold=cfg.TEST.DEMO_SCORE_THRESHOLD,
                             writer=writer, step=step)
            if writer is not None and step is not None:
                for key, value in scalars(evaluation.result, f"eval/{evaluation.name}").items():
                    writer.add_scalar(key, value, step)
                writer.flush()
    return results


def _truncate_jsonl(path: str, *, after: int) -> None:
    """Drop the lines of ``path`` logged past iteration ``after`` (a killed run's steps that the
    resumed run repeats), like TensorBoard's ``purge_step``."""
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8") as f:
        lines = [ln for ln in f if ln.strip() and json.loads(ln).get("iteration", 0) <= after]
    ckpt.atomic_write_text("".join(lines), path)


def train(
    run: Run,
    *,
    builders: dict[str, Callable] | None = None,
    resume: bool = True,
    extra_hooks: Sequence[HookBase] = (),
) -> Trainer:
    """Train as ``run.cfg`` says, resuming from the last checkpoint in OUTPUT_DIR when there is one.

    ``builders`` may also hold ``"evaluate"`` (default :func:`evaluate`). ``extra_hooks`` run after
    the built-in ones (logging, checkpoint, evaluation). Rank 0 writes in OUTPUT_DIR: ``config.yaml``
    (an earlier, different one kept as ``config.<iteration>.yaml``), checkpoints, ``metrics.jsonl``,
    TensorBoard events, ``eval_history.jsonl``, ``model_best.pth`` + ``best.json`` and ``summary.json``.
    """
    started = time.perf_counter()
    builders = builders or _default_builders()
    evaluate_fn = builders.get("evaluate", evaluate)
    cfg, device, rank, world_size = run.cfg, run.device, run.rank, run.world_size
    s = cfg.SOLVER
    if rank == 0:
        ckpt.remove_stale_temp_files(cfg.OUTPUT_DIR)
    class_names = list(builders["class_names"](cfg))
    num_classes = resolve_num_classes(cfg.MODEL.NUM_CLASSES, class_names)
    amp_dtype = resolve_amp(s.AMP, device)
    channels_last = resolve_channels_last(s.CHANNELS_LAST, device=device, amp_dtype=amp_dtype)
    model = builders["model"](cfg, num_classes=num_classes).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        logger.info("SOLVER.CHANNELS_LAST = %s: training in channels_last (NHWC)", s.CHANNELS_LAST)
    last = ckpt.last_checkpoint(cfg.OUTPUT_DIR) if resume else None
    if not last and cfg.MODEL.WEIGHTS:
        weights = ckpt.load_checkpoint(cfg.MODEL.WEIGHTS, option="MODEL.WEIGHTS")
        load_pretrained_weights(model, weights, source=cfg.MODEL.WEIGHTS, class_names=class_names,
                                class_map=dict(cfg.MODEL.WEIGHTS_CLASS_MAP),
                                allow_partial=cfg.MODEL.WEIGHTS_ALLOW_PARTIAL, config=cfg, num_classes=num_classes,
                                output_dir=cfg.OUTPUT_DIR if rank == 0 else None)
        logger.info("initialised the model from MODEL.WEIGHTS = %s", cfg.MODEL.WEIGHTS)
    optimizer = build_optimizer(cfg, model)
    scheduler = build_lr_scheduler(cfg, optimizer)
    ema = build_ema(cfg, model)
    if ema is not None:
        logger.info("SOLVER.EMA_DECAY = %g (warm-up %g): evaluation and model_best.pth use the EMA weights",
                    s.EMA_DECAY, s.EMA_WARMUP)
    model = prepare_for_world(model, sync_bn=cfg.MODEL.SYNC_BN, device=device, world_size=world_size)
    trainer = Trainer(
        model=model, optimizer=optimizer, scheduler=scheduler, device=device, amp_dtype=amp_dtype,
        channels_last=channels_last, ema=ema, clip_grad_norm=s.CLIP_GRAD_NORM, skip_nonfinite=s.SKIP_NONFINITE,
    )
    if last:
        state = ckpt.load_checkpoint(last)
        check_resume(state, source=last, config=cfg, class_names=class_names,
                     allow_model_change=s.RESUME_ALLOW_MODEL_CHANGE)
        message = ckpt.mismatch_message(state, source=last, weights=ckpt.model_state(state, source=last, ema=False),
                                        model=unwrap(model), config=cfg, num_classes=num_classes)
        if message:
            raise ValueError(message)
        trainer.load_state_dict(state)
        logger.info("resumed from %s at iteration %d (lr %.6g)", last, trainer.iter, optimizer.param_groups[0]["lr"])
    if rank == 0:
        record_config(cfg.OUTPUT_DIR, cfg.dump(), iteration=trainer.iter)
    if trainer.iter >= s.MAX_ITER:
        logger.info("%s already holds iteration %d = SOLVER.MAX_ITER; nothing to train", last, trainer.iter)
        return trainer
    data = builders["train_loader"](cfg, start_iter=trainer.iter, rank=rank, world_size=world_size)

    writer, metrics_path, best = None, None, None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=os.path.join(cfg.OUTPUT_DIR, "tensorboard"), purge_step=trainer.iter)
        metrics_path = os.path.join(cfg.OUTPUT_DIR, "metrics.jsonl")
        _truncate_jsonl(metrics_path, after=trainer.iter)

        def best_weights() -> dict[str, Any]:
            weights = {"model": unwrap(model).state_dict(), "iteration": trainer.iter, "config": cfg.dump(),
                       "class_names": class_names}
            if ema is not None:
                weights["model_ema"] = ema.state_dict()
            return weights

        best = BestCheckpoint(directory=cfg.OUTPUT_DIR, weights=best_weights)
    saved: list[str] = []
    final_eval: dict[str, Any] = {}

    def save(iteration: int) -> None:
        state = {**trainer.state_dict(), "config": cfg.dump(), "class_names": class_names}
        # on every rank (they hold the same weights), so that all stop together on a non-finite model
        ckpt.check_finite(state, what=f"the checkpoint of iteration {iteration}")
        if rank == 0:
            saved.append(ckpt.save_checkpoint(state, directory=cfg.OUTPUT_DIR, iteration=iteration,
                                              keep=s.KEEP_CHECKPOINTS))

    eval_builders = dict(builders)
    if not sys.stderr.isatty():  # no terminal for a tqdm bar: a log line every 10 s instead
        build_test_loader = builders["test_loader"]
        eval_builders["test_loader"] = lambda c, name, **kw: LoggedProgress(
            build_test_loader(c, name, **kw), desc=f"evaluating on {name}")

    def run_eval(iteration: int) -> None:
        if not cfg.DATASETS.TEST:
            return
        results = evaluate_fn(cfg, trainer.eval_model, device=device, class_names=class_names,
                              builders=eval_builders, writer=writer, step=iteration, progress=sys.stderr.isatty())
        if rank != 0:
            return
        with open(os.path.join(cfg.OUTPUT_DIR, "eval_history.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(json_safe({"iteration": iteration, "results": results})) + "\n")
        name = cfg.DATASETS.TEST[0]
        final_eval.update(metric_entry(iteration=iteration, dataset=name, result=results[name]))
        best.update(iteration=iteration, dataset=name, result=results[name])

    trainer.register_hooks([
        LoggingHook(period=s.LOG_PERIOD, writer=writer, metrics_path=metrics_path),
        CheckpointHook(period=s.CHECKPOINT_PERIOD, save=save),
        EvalHook(period=s.EVAL_PERIOD, evaluate=run_eval),
        *extra_hooks,
    ])
    try:
        trainer.train(data, max_iter=s.MAX_ITER)
        if rank == 0:
            write_training_curves(cfg.OUTPUT_DIR, writer=writer)
    finally:
        if writer is not None:
            writer.close()
    if rank == 0:
        summary = run_summary(
            wall_time_s=time.perf_counter() - started, start_iter=trainer.start_iter, end_iter=trainer.iter,
            max_iter=trainer.max_iter, final=final_eval or None, best=best.record,
            final_checkpoint=saved[-1] if saved else None,
            best_checkpoint=best.path if best.record else None, has_ema=ema is not None,
            config_file=os.path.join(cfg.OUTPUT_DIR, "config.yaml"),
        )
        write_summary(cfg.OUTPUT_DIR, summary)
        logger.info("%s", format_summary(summary))
    return trainer


def load_for_test(cfg: CfgNode, path_or_url: str | None, *, builders: dict[str, Callable] | None = None,
                  device: torch.device) -> tuple[nn.Module, list[str], str, dict[int, int] | None]:
    """The model, class names, checkpoint path and label -> category id mapping (``None`` unless the
    checkpoint carries its own, as converted torchvision COCO models do) from ``path_or_url``
    (default: the last checkpoint in OUTPUT_DIR), through :func:`ssd.checkpoint.detector_from_checkpoint`."""
    builders = builders or _default_builders()
    path = path_or_url or ckpt.last_checkpoint(cfg.OUTPUT_DIR)
    if not path:
        raise FileNotFoundError(f"no checkpoint given and none in OUTPUT_DIR = {cfg.OUTPUT_DIR}")
    loaded = detector_from_checkpoint(ckpt.load_checkpoint(path), cfg, source=path, build_model=builders["model"])
    return loaded.model.to(device), loaded.class_names, path, loaded.label_to_category_id
