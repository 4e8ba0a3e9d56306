"""What tools/train.py and tools/test.py share: set a run up, evaluate every test set, load a
checkpoint for test. The training run itself is :class:`ssd.engine.defaults.DefaultTrainer`.

The test loader and the model builder are parameters (defaulting to ``ssd.data`` and
``ssd.modeling``) so the engine can be exercised with stand-ins.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from yacs.config import CfgNode

from ..config import resolve_device
from ..data.class_layout import ClassLayout, scoring_layout
from ..evaluation import build_evaluator, scalars
from ..evaluation.writer import write_detections, write_metrics
from ..utils import checkpoint as ckpt
from ..utils.distributed import barrier, get_rank, get_world_size, init_distributed, is_main_process
from ..utils.env import collect_env, seed_everything
from ..utils.logger import setup_logger
from ..visualization.plots import write_eval_plots
from .inference import gather_detections, run_inference
from .scaling import scale_for_world
from .trainer import unwrap

logger = logging.getLogger(__name__)


@dataclass
class Run:
    cfg: CfgNode  # after world-size scaling, frozen
    device: torch.device
    rank: int
    world_size: int
    env: dict[str, Any] = field(default_factory=dict)  # collect_env(): what a training run records as env.json


def setup_run(cfg: CfgNode, *, training: bool = True) -> Run:
    """Join torchrun's process group (if any), set up logging and seeds, collect the environment
    (``Run.env``; training writes it as ``env.json`` once it holds OUTPUT_DIR's lock); for training
    also apply the world-size scaling keys."""
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
    return Run(cfg=cfg, device=device, rank=rank, world_size=world_size, env=env)


def _default_test_loader(cfg: CfgNode, name: str, **kw: Any) -> Any:
    from ..data import build_test_loader

    return build_test_loader(cfg, name, **kw)


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
    class_names: list[str] | None = None,
    build_test_loader: Callable[..., Any] | None = None,
    progress: bool = False,
    label_to_category_id: dict[int, int] | None = None,
    class_layout: ClassLayout | None = None,
) -> Iterator[DatasetEvaluation]:
    """Inference and evaluation on every ``DATASETS.TEST`` set in turn, this rank doing its share;
    rank 0 writes ``OUTPUT_DIR/inference/<dataset>/detections.json`` before the evaluator runs
    (a failing evaluator keeps the inference) and ``metrics.json`` after it.

    Every rank must consume the iterator to the end (it gathers across ranks). The model is in
    eval mode during inference and back in its own mode after (see ``inference_context``).
    ``class_layout`` is the model's (or ``class_names`` with ``label_to_category_id``, the model's
    own label layout when it has one: a converted torchvision COCO model's 90 labels, "N/A" slots
    included, label = category id); COCO test sets are then matched by category id instead of by
    class list (:func:`ssd.data.class_layout.scoring_layout`)."""
    build_test_loader = build_test_loader or _default_test_loader
    rank, world_size = get_rank(), get_world_size()
    model = unwrap(model)
    for name in cfg.DATASETS.TEST:
        loader = build_test_loader(cfg, name, rank=rank, world_size=world_size)
        dataset = loader.dataset
        model_layout = class_layout or ClassLayout(list(class_names or []), label_to_category_id)
        layout, _ = scoring_layout(model_layout, dataset.class_layout, name=name)
        mapping = layout.label_to_category_id
        evaluator = build_evaluator(cfg, dataset, class_layout=layout)
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
    class_names: list[str] | None = None,
    build_test_loader: Callable[..., Any] | None = None,
    writer: Any = None,
    step: int | None = None,
    progress: bool = False,
    label_to_category_id: dict[int, int] | None = None,
    class_layout: ClassLayout | None = None,
    on_dataset: Callable[[DatasetEvaluation], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Evaluate on every ``DATASETS.TEST`` set (:func:`iter_evaluations`). Rank 0 gets
    ``{dataset: {task: task_result}}`` and writes the TensorBoard scalars
    ``eval/<dataset>/<task>/<metric>`` (``schema.scalars``: undefined values left out); other
    ranks get ``{}``. ``on_dataset`` is called with each :class:`DatasetEvaluation` on every
    rank (e.g. to draw PR curves on rank 0)."""
    results: dict[str, dict[str, Any]] = {}
    for evaluation in iter_evaluations(cfg, model, device=device, class_names=class_names,
                                       build_test_loader=build_test_loader,
                                       progress=progress, label_to_category_id=label_to_category_id,
                                       class_layout=class_layout):
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


def truncate_jsonl(path: str, *, after: int) -> None:
    """Drop the lines of ``path`` logged past iteration ``after`` (a killed run's steps that the
    resumed run repeats), like TensorBoard's ``purge_step``."""
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8") as f:
        lines = [ln for ln in f if ln.strip() and json.loads(ln).get("iteration", 0) <= after]
    ckpt.atomic_write_text("".join(lines), path)
