"""COCO evaluator through pycocotools' COCOeval (bbox).

Predictions are turned into COCO result entries with :func:`coco_results` (the same entries the
inference writes to ``detections.json``), so the numbers equal running pycocotools on that file.
Datasets without a ``coco`` attribute (VOC format) get a ground truth built from
``get_annotation``: category id = label index, difficult objects marked ``iscrowd`` so that
detections on them are ignored, as in the VOC metric.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ..utils.distributed import all_gather_object, is_main_process
from .evaluator import DatasetEvaluator, predictions_to_numpy
from .results import coco_results

logger = logging.getLogger(__name__)

# Order of COCOeval.stats for iouType="bbox".
STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def coco_from_annotations(
    *, images: Sequence[dict[str, Any]], annotations: Sequence[dict[str, Any]], class_names: Sequence[str]
) -> COCO:
    """An in-memory COCO ground truth.

    ``images``: dicts with ``image_id``, ``height``, ``width``; ``annotations[i]`` belongs to
    ``images[i]`` and holds ``boxes [N, 4]`` xyxy original pixels, ``labels [N]`` (1-based) and
    optionally ``difficult [N]``. Label ``l`` is ``class_names[l - 1]`` (no background entry).
    """
    coco_images, coco_anns = [], []
    for info, ann in zip(images, annotations, strict=True):
        coco_images.append({"id": info["image_id"], "height": int(info["height"]), "width": int(info["width"])})
        boxes = np.asarray(ann["boxes"], dtype=np.float64).reshape(-1, 4)
        difficult = ann.get("difficult")
        difficult = np.zeros(len(boxes), bool) if difficult is None else np.asarray(difficult, bool)
        for (x1, y1, x2, y2), label, hard in zip(boxes, np.asarray(ann["labels"]), difficult, strict=True):
            w, h = float(x2 - x1), float(y2 - y1)
            coco_anns.append(
                {
                    "id": len(coco_anns) + 1,  # COCOeval treats id 0 as "unmatched"
                    "image_id": info["image_id"],
                    "category_id": int(label),
                    "bbox": [float(x1), float(y1), w, h],
                    "area": w * h,
                    "iscrowd": int(hard),
                }
            )
    coco = COCO()
    coco.dataset = {
        "images": coco_images,
        "annotations": coco_anns,
        "categories": [{"id": i, "name": n} for i, n in enumerate(class_names, start=1)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def run_coco_eval(
    coco_gt: COCO, results: list[dict[str, Any]], *, category_names: Mapping[int, str]
) -> tuple[dict[str, Any], str]:
    """COCOeval on ``results`` (COCO result entries). Returns ``(metrics, summary_text)``.

    ``metrics`` has the twelve standard numbers and ``per_class_AP`` ({name: AP@[.5:.95]}),
    computed from the same precision array COCOeval summarises.
    """
    if not results:
        metrics: dict[str, Any] = {k: 0.0 for k in STAT_NAMES}
        metrics["per_class_AP"] = {category_names[c]: 0.0 for c in sorted(category_names)}
        return metrics, "no detections: every COCO metric is 0"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        coco_dt = coco_gt.loadRes(results)
        ev = COCOeval(coco_gt, coco_dt, iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    metrics = {name: float(v) for name, v in zip(STAT_NAMES, ev.stats, strict=True)}
    precision = ev.eval["precision"]  # [T iou thresholds, R recall points, K classes, A areas, M max dets]
    per_class = {}
    for k, cat_id in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, -1]
        p = p[p > -1]
        per_class[category_names.get(cat_id, str(cat_id))] = float(p.mean()) if p.size else float("nan")
    metrics["per_class_AP"] = per_class
    return metrics, out.getvalue()


class COCOEvaluator(DatasetEvaluator):
    """COCO bbox metrics for COCO datasets (``dataset.coco``, ``dataset.label_to_category_id``) and,
    through :func:`coco_from_annotations`, for any dataset with ``get_annotation``.

    ``class_names`` has no background entry: label ``l`` is ``class_names[l - 1]``.
    ``label_to_category_id`` overrides the dataset's mapping for a model whose labels are laid out
    differently (torchvision's 91-output COCO heads, where label ``l`` is category id ``l``).
    """

    def __init__(
        self, *, dataset: Any, class_names: Sequence[str], label_to_category_id: Mapping[int, int] | None = None
    ):
        self.dataset = dataset
        self.class_names = list(class_names)
        self.label_to_category_id: dict[int, int] | None = None
        if getattr(dataset, "label_to_category_id", None) is not None:  # the dataset has category ids (and .coco)
            mapping = label_to_category_id or dataset.label_to_category_id
            self.label_to_category_id = {int(k): int(v) for k, v in mapping.items()}
        self.reset()

    def reset(self) -> None:
        self._results: list[dict[str, Any]] = []
        self._images: dict[int, dict[str, Any]] = {}

    def process(self, inputs: Sequence[dict[str, Any]], outputs: Sequence[dict[str, torch.Tensor]]) -> None:
        for info, output in zip(inputs, outputs, strict=True):
            pred = predictions_to_numpy(output)
            self._images[int(info["index"])] = {
                "image_id": info["image_id"],
                "height": info["height"],
                "width": info["width"],
            }
            self._results.extend(
                coco_results(image_id=info["image_id"], label_to_category_id=self.label_to_category_id, **pred)
            )

    def evaluate(self) -> dict[str, Any]:
        gathered = all_gather_object((self._results, self._images))
        if not is_main_process():
            return {}
        results = [r for part, _ in gathered for r in part]
        images: dict[int, dict[str, Any]] = {}
        for _, part in gathered:
            images.update(part)
        if self.label_to_category_id is not None:
            coco_gt = self.dataset.coco
            names = {cat: self.class_names[label - 1] for label, cat in self.label_to_category_id.items()}
            if len(images) < len(coco_gt.getImgIds()):
                # evaluate only the images that were run (e.g. a truncated test set)
                coco_gt = _subset(coco_gt, [v["image_id"] for v in images.values()])
        else:
            indices = sorted(images)
            coco_gt = coco_from_annotations(
                images=[images[i] for i in indices],
                annotations=[self.dataset.get_annotation(i) for i in indices],
                class_names=self.class_names,
            )
            names = dict(enumerate(self.class_names, start=1))
        metrics, summary = run_coco_eval(coco_gt, results, category_names=names)
        logger.info("COCO evaluation on %d images:\n%s", len(images), summary)
        return metrics


def _subset(coco: COCO, image_ids: Sequence[Any]) -> COCO:
    keep = set(image_ids)
    sub = COCO()
    sub.dataset = {
        "images": [im for im in coco.dataset["images"] if im["id"] in keep],
        "annotations": [a for a in coco.dataset["annotations"] if a["image_id"] in keep],
        "categories": coco.dataset["categories"],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        sub.createIndex()
    return sub
