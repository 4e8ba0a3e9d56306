"""Batched inference over a test loader, feeding an evaluator and collecting detections, inside
:func:`inference_context` (eval mode, then the model's own mode back, as detectron2's).

The model predicts boxes in pixels of its ``S x S`` input; the test transform resized the
original image to ``S x S`` without keeping the aspect ratio, so boxes go back to original
pixels by scaling x by ``width / S`` and y by ``height / S``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from ..evaluation import DatasetEvaluator, coco_results
from ..utils.distributed import all_gather_object, is_main_process

logger = logging.getLogger(__name__)


def rescale_boxes(boxes: Tensor, *, input_size: int, height: int, width: int) -> Tensor:
    """``boxes [K, 4]`` xyxy in ``input_size x input_size`` input pixels -> xyxy original pixels,
    clipped to the image."""
    scale = boxes.new_tensor([width / input_size, height / input_size, width / input_size, height / input_size])
    out = boxes * scale
    out[:, 0::2] = out[:, 0::2].clamp(0, width)
    out[:, 1::2] = out[:, 1::2].clamp(0, height)
    return out


def to_original(outputs: list[dict[str, Tensor]], infos: list[dict], *, input_size: int) -> list[dict[str, Tensor]]:
    """Per-image predictions on the CPU with boxes in original pixels."""
    result = []
    for out, info in zip(outputs, infos, strict=True):
        boxes = rescale_boxes(out["boxes"].float().cpu(), input_size=input_size,
                              height=int(info["height"]), width=int(info["width"]))
        result.append({"boxes": boxes, "scores": out["scores"].float().cpu(), "labels": out["labels"].cpu()})
    return result


@contextmanager
def inference_context(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode inside the block, in the mode it had before (train or eval) after,
    also when the block raises (detectron2's ``inference_context``)."""
    training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(training)


def detection_entries(
    info: Mapping[str, Any], output: Mapping[str, Tensor], *, label_to_category_id: Mapping[int, int] | None
) -> list[dict[str, Any]]:
    """One image's prediction (boxes in original pixels) as COCO result entries.

    With ``label_to_category_id`` (a COCO ground truth) ``image_id`` is the dataset's image id and
    labels become category ids; without it (VOC-format datasets, whose ids are strings that COCO
    tools cannot read) ``image_id`` is the dataset index ``info["index"]``, the label is the
    category id, and the dataset's own id is kept as ``source_image_id``.
    """
    image_id = info["image_id"] if label_to_category_id is not None else int(info["index"])
    entries = coco_results(
        image_id=image_id,
        boxes=output["boxes"].double().numpy(),
        scores=output["scores"].double().numpy(),
        labels=output["labels"].numpy(),
        label_to_category_id=label_to_category_id,
    )
    if label_to_category_id is None:
        for entry in entries:
            entry["source_image_id"] = info["image_id"]
    return entries


@torch.no_grad()
def run_inference(
    model: nn.Module,
    loader: Iterable,
    *,
    device: torch.device,
    input_size: int,
    evaluator: DatasetEvaluator | None = None,
    label_to_category_id: Mapping[int, int] | None = None,
    progress: bool = False,
    desc: str = "inference",
) -> list[dict[str, Any]]:
    """Run ``model`` over this rank's share of a test loader, in :func:`inference_context`.

    Each prediction goes, in original pixels, to ``evaluator.process`` (after ``reset``); the
    return value is this rank's detections in the COCO results format (see
    :func:`detection_entries` for the image ids).
    """
    if evaluator is not None:
        evaluator.reset()
    detections: list[dict[str, Any]] = []
    n_images, t_model = 0, 0.0
    with inference_context(model):
        for images, _, infos in tqdm(loader, desc=desc, disable=not progress, dynamic_ncols=True):
            start = time.perf_counter()
            outputs = model(images.to(device, non_blocking=True))
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t_model += time.perf_counter() - start
            outputs = to_original(outputs, list(infos), input_size=input_size)
            if evaluator is not None:
                evaluator.process(list(infos), outputs)
            for out, info in zip(outputs, infos, strict=True):
                detections += detection_entries(info, out, label_to_category_id=label_to_category_id)
            n_images += len(infos)
    if n_images:
        logger.info("%s: %d images, model %.1f ms/image", desc, n_images, 1000 * t_model / n_images)
    return detections


def gather_detections(local: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """All ranks' detections on rank 0, ordered by image id then score (``[]`` on other ranks)."""
    parts = all_gather_object(local)
    if not is_main_process():
        return []
    merged = [d for part in parts for d in part]
    merged.sort(key=lambda d: (d["image_id"], -d["score"]))
    return merged
