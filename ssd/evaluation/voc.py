"""PASCAL VOC evaluator: per-class AP (VOC07 11-point or VOC2010+ area) and mAP."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..config.choices import VOC_METRICS
from ..utils.distributed import all_gather_object, is_main_process
from .evaluator import DatasetEvaluator, predictions_to_numpy
from .schema import TASK, format_result, task_result
from .voc_ap import average_precisions

logger = logging.getLogger(__name__)

METRICS = VOC_METRICS


class VOCEvaluator(DatasetEvaluator):
    """Evaluates against ``dataset.get_annotation(index)`` (xyxy original pixels, labels,
    ``difficult``); difficult objects are ignored.

    ``evaluate()`` returns ``{"bbox": task_result}`` (:mod:`.schema`) with the metric ``mAP``
    (primary) and per-class AP; a class without non-difficult ground truth gets NaN and is left
    out of the mean.
    """

    def __init__(self, *, dataset: Any, class_names: Sequence[str], metric: str, iou_threshold: float = 0.5):
        if metric not in METRICS:
            raise ValueError(f"VOC metric {metric!r}; expected one of {list(METRICS)}")
        self.dataset = dataset
        self.class_names = list(class_names)  # label l is class_names[l - 1] (no background entry)
        self.metric = metric
        self.iou_threshold = iou_threshold
        self.reset()

    def reset(self) -> None:
        self._predictions: dict[int, dict[str, np.ndarray]] = {}

    def process(self, inputs: Sequence[dict[str, Any]], outputs: Sequence[dict[str, torch.Tensor]]) -> None:
        for info, output in zip(inputs, outputs, strict=True):
            self._predictions[int(info["index"])] = predictions_to_numpy(output)

    def evaluate(self) -> dict[str, Any]:
        predictions: dict[int, dict[str, np.ndarray]] = {}
        for part in all_gather_object(self._predictions):
            predictions.update(part)
        if not is_main_process():
            return {}
        indices = sorted(predictions)
        annotations = [self.dataset.get_annotation(i) for i in indices]
        preds = [predictions[i] for i in indices]
        gt_labels = [np.asarray(a["labels"], dtype=np.int64).reshape(-1) for a in annotations]
        aps = average_precisions(
            det_images=_image_column(preds, "scores"),
            det_labels=_concat([p["labels"] for p in preds], (0,), np.int64),
            det_boxes=_concat([p["boxes"] for p in preds], (0, 4), np.float64),
            det_scores=_concat([p["scores"] for p in preds], (0,), np.float64),
            gt_images=np.repeat(np.arange(len(annotations)), [len(g) for g in gt_labels]),
            gt_labels=_concat(gt_labels, (0,), np.int64),
            gt_boxes=_concat([np.asarray(a["boxes"]).reshape(-1, 4) for a in annotations], (0, 4), np.float64),
            gt_difficult=_concat([_difficult(a, len(g)) for a, g in zip(annotations, gt_labels, strict=True)],
                                 (0,), bool),
            num_classes=len(self.class_names),
            use_07_metric=self.metric == "voc07_11point",
            iou_threshold=self.iou_threshold,
        )
        per_class = {name: float(ap) for name, ap in zip(self.class_names, aps, strict=True)}
        valid = [v for v in per_class.values() if not np.isnan(v)]
        m_ap = float(np.mean(valid)) if valid else float("nan")
        result = {TASK: task_result(metrics={"mAP": m_ap}, primary="mAP", per_class=per_class)}
        logger.info("VOC evaluation (%s) on %d images:\n%s", self.metric, len(indices), format_result(result))
        return result


def _concat(arrays: list[np.ndarray], empty_shape: tuple[int, ...], dtype: type) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(empty_shape, dtype)


def _image_column(preds: list[dict[str, np.ndarray]], key: str) -> np.ndarray:
    """Position of each detection's image in ``preds``, one entry per detection."""
    return np.repeat(np.arange(len(preds)), [len(p[key]) for p in preds])


def _difficult(annotation: dict[str, Any], n: int) -> np.ndarray:
    difficult = annotation.get("difficult")
    return np.zeros(n, dtype=bool) if difficult is None else np.asarray(difficult, dtype=bool).reshape(-1)
