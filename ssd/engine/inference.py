"""Batched inference over a test loader, feeding an evaluator and collecting detections.

The model predicts boxes in pixels of its ``S x S`` input; the test transform resized the
original image to ``S x S`` without keeping the aspect ratio, so boxes go back to original
pixels by scaling x by ``width / S`` and y by ``height / S``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Iterable, Mapping
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
    """Run ``model`` (eval mode) over this rank's share of a test loader.

    Each prediction goes, in original pixels, to ``evaluator.process``; the return value is this
    rank's detections in the COCO results format (``image_id`` from the loader's infos).
    """
    model.eval()
    if evaluator is not None:
        evaluator.reset()
    detections: list[dict[str, Any]] = []
    n_images, t_model = 0, 0.0
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
            detections += coco_results(
                image_id=info["image_id"],
                boxes=out["boxes"].double().numpy(),
                scores=out["scores"].double().numpy(),
                labels=out["labels"].numpy(),
                label_to_category_id=label_to_category_id,
            )
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
    merged.sort(key=lambda d: (str(d["image_id"]), -d["score"]))
    return merged


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN: a class without ground truth is written as null
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def write_results(directory: str, *, metrics: dict[str, Any], detections: list[dict[str, Any]]) -> None:
    """``metrics.json`` and ``detections.json`` (COCO results format) in ``directory``."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "metrics.json"), "w", encoding="utf-8") as f:
        json.dump(_json_safe(metrics), f, indent=2)
    with open(os.path.join(directory, "detections.json"), "w", encoding="utf-8") as f:
        json.dump(detections, f)


def flatten_metrics(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    """``{"AP": {...}, "mAP": x}`` -> ``{"prefix/AP/<class>": ..., "prefix/mAP": x}`` (numbers only)."""
    flat: dict[str, float] = {}
    for k, v in metrics.items():
        if isinstance(v, dict):
            flat.update(flatten_metrics(v, f"{prefix}/{k}"))
        elif isinstance(v, int | float) and not isinstance(v, bool):
            flat[f"{prefix}/{k}"] = float(v)
    return flat
