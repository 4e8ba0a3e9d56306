"""The numbers behind the evaluation plots, as pure numpy functions.

Inputs are per image: ground truth ``{image_id: {"boxes" [G, 4], "labels" [G], "difficult" [G]}}``
and detections ``{image_id: {"boxes" [D, 4], "scores" [D], "labels" [D]}}``, boxes xyxy in
original pixels, labels 1-based (0 = background). Difficult (VOC) / crowd (COCO) objects are
neither found nor missed, as in both metrics.

* :func:`pr_curve` -- one class's precision-recall curve at one IoU threshold: the monotone
  precision envelope of :func:`ssd.evaluation.voc_ap.precision_recall` (VOC matching), whose area
  is the VOC2010+ AP (``TEST.VOC_METRIC voc_area``) exactly.
* :func:`mean_iou_curve` -- COCO's view: the envelopes at IoU 0.50:0.05:0.95 sampled on COCO's
  101 recall points and averaged; its mean is the AP@[.5:.95] of VOC-style matching (pycocotools
  matches an already-found object's duplicate to the next best object, so it can differ slightly).
* :func:`confusion_matrix` -- detections at or above a score threshold matched class-agnostically
  to ground truth (IoU descending, one-to-one, as ultralytics' ``ConfusionMatrix``); row = true
  label, column = predicted label, index 0 = background (column 0: missed objects, row 0: false
  detections).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..evaluation.voc_ap import box_iou_np, precision_recall

COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)  # pycocotools' Params.iouThrs
COCO_RECALL_POINTS = np.linspace(0.0, 1.0, 101)  # pycocotools' Params.recThrs

GroundTruth = Mapping[Any, Mapping[str, np.ndarray]]
Detections = Mapping[Any, Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class PRCurve:
    """A step curve: precision ``precision[i]`` holds for recall in ``(recall[i-1], recall[i]]``
    (matplotlib ``step(..., where="pre")``). ``recall`` starts at 0 and ends at 1 (sentinels);
    ``ap`` is the area under it, NaN when the class has no ground truth (``num_gt == 0``)."""

    recall: np.ndarray  # float64 [P]
    precision: np.ndarray  # float64 [P], non-increasing
    ap: float
    num_gt: int


def step_area(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under a :class:`PRCurve`-style step curve."""
    return float(np.sum(np.diff(recall) * precision[1:]))


def ground_truth_of(dataset: Any) -> dict[Any, dict[str, np.ndarray]]:
    """``{image_id: annotation}`` from a dataset's public accessors (``get_img_info(i)["image_id"]``,
    ``get_annotation(i)``; VOC, COCO and concatenated datasets alike)."""
    return {dataset.get_img_info(i)["image_id"]: dataset.get_annotation(i) for i in range(len(dataset))}


def detections_of(
    results: Sequence[Mapping[str, Any]], *, category_to_label: Mapping[int, int] | None = None
) -> dict[Any, dict[str, np.ndarray]]:
    """COCO result entries (``detections.json``: ``bbox`` xywh) -> per-image xyxy arrays.

    ``category_to_label`` maps category ids back to 1-based labels (a COCO dataset's
    ``category_id_to_label``); without it the category id is the label (VOC). Entries of other
    categories are dropped.
    """
    grouped: dict[Any, list[Mapping[str, Any]]] = {}
    for r in results:
        category = int(r["category_id"])
        if category_to_label is not None and category not in category_to_label:
            continue
        grouped.setdefault(r["image_id"], []).append(r)
    out = {}
    for image_id, entries in grouped.items():
        labels = [int(e["category_id"]) for e in entries]
        if category_to_label is not None:
            labels = [category_to_label[c] for c in labels]
        boxes = np.array([e["bbox"] for e in entries], dtype=np.float64).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]  # xywh -> xyxy, in float64 as the evaluators compute IoU
        out[image_id] = {
            "boxes": boxes,
            "scores": np.array([e["score"] for e in entries], dtype=np.float64),
            "labels": np.array(labels, dtype=np.int64),
        }
    return out


def _difficult(ann: Mapping[str, np.ndarray]) -> np.ndarray:
    d = ann.get("difficult")
    return np.zeros(len(ann["labels"]), dtype=bool) if d is None else np.asarray(d, dtype=bool)


def _class_inputs(gt: GroundTruth, detections: Detections, label: int) -> dict[str, Any]:
    gt_boxes, gt_difficult = {}, {}
    for image_id, ann in gt.items():
        keep = np.asarray(ann["labels"]) == label
        gt_boxes[image_id] = np.asarray(ann["boxes"], dtype=np.float64).reshape(-1, 4)[keep]
        gt_difficult[image_id] = _difficult(ann)[keep]
    ids, boxes, scores = [], [], []
    for image_id, det in detections.items():
        keep = np.asarray(det["labels"]) == label
        ids += [image_id] * int(keep.sum())
        boxes.append(np.asarray(det["boxes"], dtype=np.float64).reshape(-1, 4)[keep])
        scores.append(np.asarray(det["scores"], dtype=np.float64)[keep])
    return {
        "det_image_ids": ids,
        "det_boxes": np.concatenate(boxes) if boxes else np.zeros((0, 4)),
        "det_scores": np.concatenate(scores) if scores else np.zeros(0),
        "gt_boxes": gt_boxes,
        "gt_difficult": gt_difficult,
    }


def pr_curve(gt: GroundTruth, detections: Detections, *, label: int, iou_threshold: float = 0.5) -> PRCurve:
    """Precision-recall step curve of class ``label`` (see :class:`PRCurve`)."""
    return _pr_curve(_class_inputs(gt, detections, label), iou_threshold)


def _pr_curve(inputs: dict[str, Any], iou_threshold: float) -> PRCurve:
    recall, precision, npos = precision_recall(**inputs, iou_threshold=iou_threshold)
    if npos == 0:
        return PRCurve(recall=np.array([0.0, 1.0]), precision=np.zeros(2), ap=float("nan"), num_gt=0)
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # the envelope, as voc_ap's area metric
    return PRCurve(recall=mrec, precision=mpre, ap=step_area(mrec, mpre), num_gt=npos)


def sample_curve(curve: PRCurve, points: np.ndarray = COCO_RECALL_POINTS) -> np.ndarray:
    """Precision at each recall point (the best precision at recall >= the point, 0 beyond the
    curve's reach), as COCOeval interpolates. ``float64 [len(points)]``."""
    reached = curve.recall[1:-1] if len(curve.recall) > 2 else np.zeros(0)
    best = curve.precision[1:-1] if len(curve.precision) > 2 else np.zeros(0)
    index = np.searchsorted(reached, points, side="left")
    padded = np.concatenate([best, [0.0]])
    return padded[index]


def mean_iou_curve(
    gt: GroundTruth, detections: Detections, *, label: int, iou_thresholds: np.ndarray = COCO_IOU_THRESHOLDS
) -> np.ndarray:
    """Class ``label``'s precision on :data:`COCO_RECALL_POINTS`, averaged over ``iou_thresholds``
    (``float64 [101]``; all NaN without ground truth). Its mean is the class's AP@[.5:.95]."""
    inputs = _class_inputs(gt, detections, label)
    curves = [_pr_curve(inputs, float(t)) for t in iou_thresholds]
    if curves[0].num_gt == 0:
        return np.full(len(COCO_RECALL_POINTS), np.nan)
    return np.mean([sample_curve(c) for c in curves], axis=0)


def confusion_matrix(
    gt: GroundTruth,
    detections: Detections,
    *,
    num_classes: int,
    score_threshold: float,
    iou_threshold: float = 0.5,
) -> np.ndarray:
    """``int64 [num_classes + 1, num_classes + 1]`` counts, ``[true label, predicted label]`` with
    label 0 = background; ``num_classes`` excludes background.

    Per image, detections with ``score >= score_threshold`` and all objects are paired by IoU
    (>= ``iou_threshold``), highest IoU first, each used once, whatever their classes: a pair
    counts at ``[object label, detection label]``, an unpaired object at ``[label, 0]`` (missed),
    an unpaired detection at ``[0, label]`` (false detection). Pairs with difficult objects and
    difficult objects left unpaired are not counted.
    """
    matrix = np.zeros((num_classes + 1, num_classes + 1), dtype=np.int64)
    empty_gt = {"boxes": np.zeros((0, 4)), "labels": np.zeros(0, np.int64), "difficult": np.zeros(0, bool)}
    empty_det = {"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "labels": np.zeros(0, np.int64)}
    for image_id in list(gt) + [i for i in detections if i not in gt]:
        ann, det = gt.get(image_id, empty_gt), detections.get(image_id, empty_det)
        g_boxes = np.asarray(ann["boxes"], dtype=np.float64).reshape(-1, 4)
        g_labels, g_difficult = np.asarray(ann["labels"], dtype=np.int64), _difficult(ann)
        keep = np.asarray(det["scores"], dtype=np.float64) >= score_threshold
        d_boxes = np.asarray(det["boxes"], dtype=np.float64).reshape(-1, 4)[keep]
        d_labels = np.asarray(det["labels"], dtype=np.int64)[keep]
        g_used, d_used = np.zeros(len(g_boxes), bool), np.zeros(len(d_boxes), bool)
        if len(g_boxes) and len(d_boxes):
            iou = box_iou_np(g_boxes, d_boxes)
            gi, di = np.nonzero(iou >= iou_threshold)
            for k in np.argsort(-iou[gi, di], kind="stable"):
                g, d = gi[k], di[k]
                if g_used[g] or d_used[d]:
                    continue
                g_used[g] = d_used[d] = True
                if not g_difficult[g]:
                    matrix[g_labels[g], d_labels[d]] += 1
        np.add.at(matrix, (g_labels[~g_used & ~g_difficult], 0), 1)
        np.add.at(matrix, (0, d_labels[~d_used]), 1)
    return matrix
