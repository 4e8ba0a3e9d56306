"""PASCAL VOC evaluator: per-class AP (VOC07 11-point or VOC2010+ area) and mAP."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..utils.distributed import all_gather_object, is_main_process
from .evaluator import DatasetEvaluator, predictions_to_numpy
from .voc_ap import class_ap

logger = logging.getLogger(__name__)

METRICS = ("voc07_11point", "voc_area")


class VOCEvaluator(DatasetEvaluator):
    """Evaluates against ``dataset.get_annotation(index)`` (xyxy original pixels, labels,
    ``difficult``); difficult objects are ignored.

    ``evaluate()`` returns ``{"metric", "mAP", "AP": {class_name: AP}}``; a class without
    non-difficult ground truth gets NaN and is left out of the mean.
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
        annotations = {i: self.dataset.get_annotation(i) for i in indices}
        aps: dict[str, float] = {}
        for label in range(1, len(self.class_names) + 1):
            gt_boxes, gt_difficult = {}, {}
            for i in indices:
                ann = annotations[i]
                keep = np.asarray(ann["labels"]) == label
                gt_boxes[i] = np.asarray(ann["boxes"], dtype=np.float64).reshape(-1, 4)[keep]
                difficult = ann.get("difficult")
                difficult = np.zeros(len(keep), dtype=bool) if difficult is None else np.asarray(difficult, bool)
                gt_difficult[i] = difficult[keep]
            ids, boxes, scores = [], [], []
            for i in indices:
                pred = predictions[i]
                keep = pred["labels"] == label
                ids.extend([i] * int(keep.sum()))
                boxes.append(pred["boxes"][keep])
                scores.append(pred["scores"][keep])
            aps[self.class_names[label - 1]] = class_ap(
                det_image_ids=ids,
                det_boxes=np.concatenate(boxes) if boxes else np.zeros((0, 4)),
                det_scores=np.concatenate(scores) if scores else np.zeros(0),
                gt_boxes=gt_boxes,
                gt_difficult=gt_difficult,
                use_07_metric=self.metric == "voc07_11point",
                iou_threshold=self.iou_threshold,
            )
        valid = [v for v in aps.values() if not np.isnan(v)]
        result = {"metric": self.metric, "mAP": float(np.mean(valid)) if valid else float("nan"), "AP": aps}
        logger.info("VOC evaluation (%s) on %d images:\n%s", self.metric, len(indices), format_voc_table(result))
        return result


def format_voc_table(result: dict[str, Any]) -> str:
    """A two-column ``class | AP`` table followed by the mAP."""
    width = max([len(n) for n in result["AP"]] + [5])
    lines = [f"{'class':<{width}} | AP", "-" * (width + 9)]
    lines += [f"{name:<{width}} | {ap:.4f}" for name, ap in result["AP"].items()]
    lines.append(f"{'mAP':<{width}} | {result['mAP']:.4f}")
    return "\n".join(lines)
