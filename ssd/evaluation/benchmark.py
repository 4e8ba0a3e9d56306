"""Speed of the evaluators against the references users would otherwise run (``tools/benchmark.py --eval``).

One synthetic detection set, shaped like a COCO val run (by default 5,000 images, ~19k objects,
~488k detections: 100 per image, as ``TEST.MAX_PER_IMAGE``), is evaluated in one process by

- COCO: :class:`~.coco.COCOEvaluator` (default backend, faster-coco-eval) against plain
  pycocotools (``COCO`` from the ground-truth dict, ``loadRes``, ``COCOeval`` evaluate /
  accumulate / summarize);
- VOC: :class:`~.voc.VOCEvaluator`, alone or against a ``voc_reference`` function the caller
  passes (chainercv itself no longer installs; the tests hold a loop-by-loop implementation of its
  ``eval_detection_voc``, ``tests/evaluation/voc_reference.py``, which times itself against ours
  when run as a script).

The calls alternate round by round (:func:`ssd.utils.timing.interleaved`) and the report gives,
per pair, the median of the per-round ratios reference / ours (> 1: ours is faster), with the
numbers checked equal.
"""

from __future__ import annotations

import contextlib
import copy
import io
import statistics
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..utils.timing import interleaved
from .coco import STAT_NAMES, COCOEvaluator
from .results import coco_results
from .voc import VOCEvaluator

IMAGE_WIDTH, IMAGE_HEIGHT = 640, 480


def synthetic_detection_set(*, num_images: int, num_classes: int, seed: int, objects_per_image: float = 3.8,
                            detections_per_image: int = 100) -> tuple[list[dict[str, np.ndarray]], list[dict]]:
    """``(annotations, predictions)``, one entry per image, xyxy original pixels, labels ``1..num_classes``.

    Annotations hold ``boxes [G, 4]``, ``labels [G]``, ``difficult [G]`` (5 % difficult / crowd);
    predictions ``boxes [D, 4]``, ``scores [D]`` (rounded to 3 decimals: ties, as float32 scores
    have), ``labels [D]``: 3 jittered copies of each object (10 % with a wrong label) and random
    boxes up to ``detections_per_image``.
    """
    rng = np.random.default_rng(seed)
    size = np.array([IMAGE_WIDTH, IMAGE_HEIGHT, IMAGE_WIDTH, IMAGE_HEIGHT], dtype=np.float64)

    def random_boxes(n: int) -> np.ndarray:
        wh = rng.uniform(0.02, 0.6, (n, 2)) * size[:2]
        xy = rng.uniform(0, 1, (n, 2)) * (size[:2] - wh)
        return np.concatenate([xy, xy + wh], axis=1)

    annotations, predictions = [], []
    for _ in range(num_images):
        n_gt = int(rng.poisson(objects_per_image))
        gt_boxes = random_boxes(n_gt)
        gt_labels = rng.integers(1, num_classes + 1, n_gt)
        annotations.append({"boxes": gt_boxes, "labels": gt_labels, "difficult": rng.random(n_gt) < 0.05})
        copies = min(3 * n_gt, detections_per_image)
        src = np.repeat(np.arange(n_gt), 3)[:copies]
        wh = (gt_boxes[src, 2:] - gt_boxes[src, :2]).repeat(2, axis=0).reshape(-1, 4)
        near = gt_boxes[src] + rng.normal(0, 0.08, (copies, 4)) * wh
        near[:, 2:] = np.maximum(near[:, 2:], near[:, :2] + 1)
        near_labels = np.where(rng.random(copies) < 0.9, gt_labels[src], rng.integers(1, num_classes + 1, copies))
        n_random = detections_per_image - copies
        boxes = np.clip(np.concatenate([near, random_boxes(n_random)]), 0, size)
        labels = np.concatenate([near_labels, rng.integers(1, num_classes + 1, n_random)]).astype(np.int64)
        scores = np.round(np.concatenate([rng.uniform(0.3, 1.0, copies), rng.uniform(0.0, 0.6, n_random)]), 3)
        predictions.append({"boxes": boxes, "scores": scores, "labels": labels})
    return annotations, predictions


class _Dataset:
    """A test set for the evaluators: ``get_annotation`` and, for COCO, ``coco`` + label mapping."""

    def __init__(self, annotations: list[dict[str, np.ndarray]], num_classes: int, with_coco: bool):
        self.annotations = annotations
        if with_coco:
            from pycocotools.coco import COCO

            # COCO's category ids are not contiguous: label l -> id 2l + 1
            self.label_to_category_id = {label: 2 * label + 1 for label in range(1, num_classes + 1)}
            images, anns = [], []
            for i, a in enumerate(annotations):
                images.append({"id": i + 1, "height": IMAGE_HEIGHT, "width": IMAGE_WIDTH})
                for (x1, y1, x2, y2), label, crowd in zip(a["boxes"], a["labels"], a["difficult"], strict=True):
                    w, h = float(x2 - x1), float(y2 - y1)
                    anns.append({"id": len(anns) + 1, "image_id": i + 1, "bbox": [float(x1), float(y1), w, h],
                                 "category_id": self.label_to_category_id[int(label)], "area": w * h,
                                 "iscrowd": int(crowd)})
            cats = [{"id": c, "name": f"class{label}"} for label, c in self.label_to_category_id.items()]
            self.coco = COCO()
            self.coco.dataset = {"images": images, "annotations": anns, "categories": cats}
            with contextlib.redirect_stdout(io.StringIO()):
                self.coco.createIndex()

    def __len__(self) -> int:
        return len(self.annotations)

    def get_annotation(self, index: int) -> dict[str, np.ndarray]:
        return self.annotations[index]


def _feed(evaluator: Any, predictions: list[dict[str, np.ndarray]], coco_ids: bool) -> Any:
    evaluator.reset()
    for i, p in enumerate(predictions):
        info = {"index": i, "image_id": i + 1 if coco_ids else f"{i:06d}", "height": IMAGE_HEIGHT,
                "width": IMAGE_WIDTH}
        evaluator.process([info], [{k: torch.from_numpy(v) for k, v in p.items()}])
    return evaluator


def _pycocotools(coco_gt: Any, results: list[dict[str, Any]]) -> list[float]:
    """Plain pycocotools on a ground truth and a results list, as a user would run it."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = coco_gt.dataset
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(results), iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float("nan") if v == -1 else float(v) for v in ev.stats]


def _alternate(fns: dict[str, Callable[[], Any]], rounds: int) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Times and last outputs of the evaluations, each once per round without warm-up (one
    evaluation takes seconds: a first call costs nothing extra that matters)."""
    outputs: dict[str, Any] = {}
    return interleaved(fns, rounds=rounds, calls=1, warmup=0, outputs=outputs), outputs


def _ratio(times: dict[str, list[float]], reference: str, ours: str) -> float:
    return statistics.median(r / o for r, o in zip(times[reference], times[ours], strict=True))


# reference_voc_ap(*, pred_boxes, pred_labels, pred_scores, gt_boxes, gt_labels, gt_difficult,
# num_classes, use_07_metric) -> AP [num_classes]: see tests/evaluation/voc_reference.py
VocReference = Callable[..., np.ndarray]


def benchmark_evaluators(num_images: int = 5000, rounds: int = 3, seed: int = 0, *,
                         voc_reference: VocReference | None = None) -> dict[str, Any]:
    """Time the COCO evaluator against pycocotools, and the VOC evaluator alone or against
    ``voc_reference``, on one synthetic set each (see the module docstring). Returns a JSON-able
    report: set sizes, median seconds per evaluation, ``*_speedup_*`` ratios (reference / ours,
    median over rounds) and ``*_max_abs_diff`` between the two metric lists (COCO's twelve
    numbers, VOC's per-class AP); without ``voc_reference`` the VOC part is ``voc_ours_s``."""
    report: dict[str, Any] = {"num_images": num_images, "rounds": rounds}

    annotations, predictions = synthetic_detection_set(num_images=num_images, num_classes=80, seed=seed)
    report["coco_objects"] = int(sum(len(a["labels"]) for a in annotations))
    report["coco_detections"] = int(sum(len(p["scores"]) for p in predictions))
    dataset = _Dataset(annotations, 80, with_coco=True)
    class_names = [f"class{label}" for label in range(1, 81)]
    evaluator = _feed(COCOEvaluator(dataset=dataset, class_names=class_names), predictions, coco_ids=True)
    results = [r for i, p in enumerate(predictions)
               for r in coco_results(image_id=i + 1, label_to_category_id=dataset.label_to_category_id, **p)]
    copies = [copy.deepcopy(results) for _ in range(rounds)]  # loadRes writes into its input
    times, out = _alternate({"pycocotools": lambda: _pycocotools(dataset.coco, copies.pop()),
                             "ours": evaluator.evaluate}, rounds)
    for name, t in times.items():
        report[f"coco_{name}_s"] = statistics.median(t)
    report["coco_speedup_vs_pycocotools"] = _ratio(times, "pycocotools", "ours")
    ours = [out["ours"]["bbox"]["metrics"][k] for k in STAT_NAMES]
    report["coco_max_abs_diff"] = float(np.nanmax(np.abs(np.subtract(ours, out["pycocotools"]))))

    annotations, predictions = synthetic_detection_set(num_images=num_images, num_classes=20, seed=seed + 1)
    report["voc_objects"] = int(sum(len(a["labels"]) for a in annotations))
    report["voc_detections"] = int(sum(len(p["scores"]) for p in predictions))
    voc_dataset = _Dataset(annotations, 20, with_coco=False)
    evaluator = _feed(VOCEvaluator(dataset=voc_dataset, class_names=[f"c{i}" for i in range(20)],
                                   metric="voc07_11point"), predictions, coco_ids=False)

    if voc_reference is None:
        times, _ = _alternate({"ours": evaluator.evaluate}, rounds)
        report["voc_ours_s"] = statistics.median(times["ours"])
        return report

    def reference() -> np.ndarray:
        gts = [voc_dataset.get_annotation(i) for i in range(len(voc_dataset))]
        return voc_reference(
            pred_boxes=[p["boxes"] for p in predictions], pred_labels=[p["labels"] for p in predictions],
            pred_scores=[p["scores"] for p in predictions], gt_boxes=[g["boxes"] for g in gts],
            gt_labels=[g["labels"] for g in gts], gt_difficult=[g["difficult"] for g in gts],
            num_classes=20, use_07_metric=True)

    times, out = _alternate({"chainercv_style_reference": reference, "ours": evaluator.evaluate}, rounds)
    for name, t in times.items():
        report[f"voc_{name}_s"] = statistics.median(t)
    report["voc_speedup_vs_chainercv_style_reference"] = _ratio(times, "chainercv_style_reference", "ours")
    ours = [out["ours"]["bbox"]["per_class"][f"c{i}"] for i in range(20)]
    report["voc_max_abs_diff"] = float(np.nanmax(np.abs(np.subtract(ours, out["chainercv_style_reference"]))))
    return report
