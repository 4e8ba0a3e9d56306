"""COCO bbox evaluator, through faster-coco-eval (default) or pycocotools (the reference).

Both backends run COCOeval's algorithm on the same inputs and give identical numbers (the parity
tests in ``tests/evaluation`` compare them on sets with ties, crowd regions, empty images and a
class without ground truth); faster-coco-eval does the matching and accumulation in C++.

Predictions are turned into COCO result entries with :func:`coco_results` (the entries the
inference writes to ``detections.json``), so the numbers equal running pycocotools on that file.
Datasets without a ``coco`` attribute (VOC format) get a ground truth built from
``get_annotation`` with :func:`ground_truth_from_annotations`: image id = dataset index, category
id = label, difficult objects marked ``iscrowd`` so that detections on them are ignored, as in the
VOC metric.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..config.choices import COCO_BACKENDS
from ..data.class_layout import ClassLayout
from ..utils.distributed import all_gather_object, is_main_process
from .evaluator import DatasetEvaluator, predictions_to_numpy
from .results import coco_results
from .schema import TASK, format_result, task_result

logger = logging.getLogger(__name__)

# Order of COCOeval.stats for iouType="bbox" (both backends; faster-coco-eval appends more after).
STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def ground_truth_from_annotations(
    *, images: Sequence[dict[str, Any]], annotations: Sequence[dict[str, Any]], class_names: Sequence[str]
) -> dict[str, Any]:
    """A COCO ground-truth dict (``{"images", "annotations", "categories"}``).

    ``images``: dicts with an integer ``id``, ``height``, ``width``; ``annotations[i]`` belongs to
    ``images[i]`` and holds ``boxes [N, 4]`` xyxy original pixels, ``labels [N]`` (1-based) and
    optionally ``difficult [N]`` (written as ``iscrowd``). Label ``l`` is category id ``l``, named
    ``class_names[l - 1]`` (no background entry).
    """
    coco_images, coco_anns = [], []
    for info, ann in zip(images, annotations, strict=True):
        coco_images.append({"id": int(info["id"]), "height": int(info["height"]), "width": int(info["width"])})
        boxes = np.asarray(ann["boxes"], dtype=np.float64).reshape(-1, 4)
        difficult = ann.get("difficult")
        difficult = np.zeros(len(boxes), bool) if difficult is None else np.asarray(difficult, bool)
        for (x1, y1, x2, y2), label, hard in zip(boxes, np.asarray(ann["labels"]), difficult, strict=True):
            w, h = float(x2 - x1), float(y2 - y1)
            coco_anns.append(
                {
                    "id": len(coco_anns) + 1,  # COCOeval treats id 0 as "unmatched"
                    "image_id": int(info["id"]),
                    "category_id": int(label),
                    "bbox": [float(x1), float(y1), w, h],
                    "area": w * h,
                    "iscrowd": int(hard),
                }
            )
    return {
        "images": coco_images,
        "annotations": coco_anns,
        "categories": [{"id": i, "name": n} for i, n in enumerate(class_names, start=1)],
    }


def _with_defaults(annotations: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of ground-truth annotations with COCO's standard defaults where a file left them out
    (``iscrowd`` 0, ``area`` from the box), so COCOeval never fails on a ``KeyError``."""
    out = []
    for a in annotations:
        if "iscrowd" in a and "area" in a:
            out.append(a)
            continue
        a = dict(a)
        a.setdefault("iscrowd", 0)
        a.setdefault("area", float(a["bbox"][2]) * float(a["bbox"][3]))
        out.append(a)
    return out


def _load(backend: str, gt: Mapping[str, Any], results: Sequence[dict[str, Any]]) -> tuple[Any, Any, Any]:
    """``(coco_gt, coco_dt, COCOeval class)`` of ``backend``; inputs are copied (both libraries'
    ``loadRes`` write ``id`` / ``area`` / ``segmentation`` into the entries they are given)."""
    dataset = {
        "images": list(gt["images"]),
        "annotations": _with_defaults(gt["annotations"]),
        "categories": list(gt["categories"]),
    }
    entries = [dict(r) for r in results]
    if backend == "faster_coco_eval":
        from faster_coco_eval import COCO, COCOeval_faster

        coco_gt = COCO(dataset)
        return coco_gt, coco_gt.loadRes(entries), COCOeval_faster
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    coco_gt = COCO()
    coco_gt.dataset = dataset
    coco_gt.createIndex()
    if entries:
        return coco_gt, coco_gt.loadRes(entries), COCOeval
    coco_dt = COCO()  # pycocotools' loadRes cannot read an empty list; an empty result set is valid
    coco_dt.dataset = {"images": dataset["images"], "categories": dataset["categories"], "annotations": []}
    coco_dt.createIndex()
    return coco_gt, coco_dt, COCOeval


def evaluate_coco(
    gt: Mapping[str, Any],
    results: Sequence[dict[str, Any]],
    *,
    category_names: Mapping[int, str],
    image_ids: Sequence[int] | None = None,
    backend: str = "faster_coco_eval",
) -> dict[str, Any]:
    """COCOeval (bbox) of ``results`` (COCO result entries) against the ground-truth dict ``gt``.

    Only the categories in ``category_names`` ({category id: name}) are evaluated (a class subset
    ignores the other categories instead of scoring them 0), and only ``image_ids`` when given
    (default: every image of ``gt``). Returns ``{"bbox": task_result}`` (:mod:`.schema`): the
    twelve standard numbers, primary ``AP``, per-class AP@[.5:.95] from the same precision array
    COCOeval summarises; ``-1`` ("no ground truth of this kind") becomes NaN.
    """
    if backend not in COCO_BACKENDS:
        raise ValueError(f"COCO backend {backend!r}; expected one of {list(COCO_BACKENDS)}")
    known = {c["id"] for c in gt["categories"]}
    cat_ids = sorted(c for c in category_names if c in known)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt, coco_dt, cocoeval = _load(backend, gt, results)
        ev = cocoeval(coco_gt, coco_dt, iouType="bbox")
        if backend == "faster_coco_eval":
            ev.print_function = logger.debug
        ev.params.catIds = cat_ids
        if image_ids is not None:
            ev.params.imgIds = sorted(int(i) for i in image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    metrics = {name: float(v) for name, v in zip(STAT_NAMES, ev.stats[: len(STAT_NAMES)], strict=True)}
    precision = np.asarray(ev.eval["precision"])  # [T iou thresholds, R recall points, K classes, A areas, M dets]
    per_class = {}
    for k, cat_id in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, -1]
        p = p[p > -1]
        per_class[category_names[int(cat_id)]] = float(p.mean()) if p.size else float("nan")
    return {TASK: task_result(metrics=metrics, primary="AP", per_class=per_class)}


class COCOEvaluator(DatasetEvaluator):
    """COCO bbox metrics for COCO datasets (``dataset.coco``, ``dataset.label_to_category_id``) and,
    through :func:`ground_truth_from_annotations`, for any dataset with ``get_annotation``.

    ``class_names`` has no background entry: label ``l`` is ``class_names[l - 1]``.
    ``label_to_category_id`` overrides the dataset's mapping for a model whose labels are laid out
    differently (torchvision's 91-output COCO heads, where label ``l`` is category id ``l``).
    ``class_layout`` (the layout to score with, :func:`ssd.data.class_layout.scoring_layout`)
    replaces both and decides alone whether results carry category ids; without it the dataset's
    ``label_to_category_id`` attribute does. Only the mapped categories are evaluated.
    ``backend``: one of :data:`COCO_BACKENDS`.
    """

    def __init__(
        self,
        *,
        dataset: Any,
        class_names: Sequence[str] = (),
        label_to_category_id: Mapping[int, int] | None = None,
        class_layout: ClassLayout | None = None,
        backend: str = "faster_coco_eval",
    ):
        if backend not in COCO_BACKENDS:
            raise ValueError(f"COCO backend {backend!r}; expected one of {list(COCO_BACKENDS)}")
        self.dataset = dataset
        self.class_names = list(class_layout.class_names if class_layout is not None else class_names)
        self.backend = backend
        self.label_to_category_id: dict[int, int] | None = None
        if class_layout is not None:
            self.label_to_category_id = class_layout.label_to_category_id
        elif getattr(dataset, "label_to_category_id", None) is not None:  # the dataset has category ids (and .coco)
            mapping = label_to_category_id or dataset.label_to_category_id
            self.label_to_category_id = {int(k): int(v) for k, v in mapping.items()}
        self.reset()

    def reset(self) -> None:
        self._results: list[dict[str, Any]] = []
        self._images: dict[int, dict[str, Any]] = {}

    def process(self, inputs: Sequence[dict[str, Any]], outputs: Sequence[dict[str, torch.Tensor]]) -> None:
        for info, output in zip(inputs, outputs, strict=True):
            index = int(info["index"])
            # VOC-format image ids are strings: the ground truth built for them is keyed by index
            image_id = info["image_id"] if self.label_to_category_id is not None else index
            self._images[index] = {"id": image_id, "height": info["height"], "width": info["width"]}
            self._results.extend(
                coco_results(image_id=image_id, label_to_category_id=self.label_to_category_id,
                             **predictions_to_numpy(output))
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
            gt = self.dataset.coco.dataset
            names = {cat: self.class_names[label - 1] for label, cat in self.label_to_category_id.items()}
        else:
            indices = sorted(images)
            gt = ground_truth_from_annotations(
                images=[images[i] for i in indices],
                annotations=[self.dataset.get_annotation(i) for i in indices],
                class_names=self.class_names,
            )
            names = dict(enumerate(self.class_names, start=1))
        # evaluate only the images that were run (e.g. a truncated test set)
        result = evaluate_coco(gt, results, category_names=names, image_ids=[v["id"] for v in images.values()],
                               backend=self.backend)
        logger.info("COCO evaluation (%s) on %d images:\n%s", self.backend, len(images), format_result(result))
        return result
