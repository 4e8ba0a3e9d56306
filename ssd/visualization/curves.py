"""The numbers behind the evaluation plots, as pure numpy functions.

Inputs are per image: ground truth ``{image_id: {"boxes" [G, 4], "labels" [G], "difficult" [G]}}``
and detections ``{image_id: {"boxes" [D, 4], "scores" [D], "labels" [D]}}``, boxes xyxy in
original pixels, labels 1-based (0 = background). Difficult (VOC) / crowd (COCO) objects are
neither found nor missed, as in both metrics.

* :func:`pr_curves` -- each class's precision-recall curve at one IoU threshold: the monotone
  precision envelope after :func:`ssd.evaluation.voc_ap.match_detections` (VOC matching, all
  classes at once), whose area is the VOC2010+ AP (``TEST.VOC_METRIC voc_area``) exactly.
* :func:`mean_iou_curves` -- COCO's view: the envelopes at IoU 0.50:0.05:0.95 sampled on COCO's
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

from ..evaluation.voc_ap import FALSE_POSITIVE, TRUE_POSITIVE, box_iou_np, match_detections

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
    categories are dropped. Images are keyed by the dataset's own id: ``source_image_id`` where an
    entry has one (VOC-format sets, whose ``image_id`` is the dataset index, see
    :func:`ssd.engine.inference.detection_entries`), else ``image_id``.
    """
    grouped: dict[Any, list[Mapping[str, Any]]] = {}
    for r in results:
        category = int(r["category_id"])
        if category_to_label is not None and category not in category_to_label:
            continue
        grouped.setdefault(r.get("source_image_id", r["image_id"]), []).append(r)
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


def flatten(gt: GroundTruth, detections: Detections) -> dict[str, np.ndarray]:
    """Per-image mappings -> the flat arrays of :func:`ssd.evaluation.voc_ap.match_detections`
    (``det_images``, ``det_labels``, ``det_boxes``, ``det_scores``, ``gt_images``, ``gt_labels``,
    ``gt_boxes``, ``gt_difficult``; images numbered in order of appearance)."""
    index = {image_id: i for i, image_id in enumerate(list(gt) + [k for k in detections if k not in gt])}

    def column(source: Mapping, key: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        parts = [np.asarray(v[key], dtype=dtype).reshape(-1, *shape[1:]) for v in source.values()]
        return np.concatenate(parts) if parts else np.zeros(shape, dtype)

    def images(source: Mapping, key: str) -> np.ndarray:
        parts = [np.full(len(v[key]), index[k], np.int64) for k, v in source.items()]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    return {
        "det_images": images(detections, "scores"),
        "det_labels": column(detections, "labels", (0,), np.int64),
        "det_boxes": column(detections, "boxes", (0, 4), np.float64),
        "det_scores": column(detections, "scores", (0,), np.float64),
        "gt_images": images(gt, "labels"),
        "gt_labels": column(gt, "labels", (0,), np.int64),
        "gt_boxes": column(gt, "boxes", (0, 4), np.float64),
        "gt_difficult": np.concatenate([_difficult(a) for a in gt.values()] or [np.zeros(0, bool)]),
    }


def pr_curves(
    gt: GroundTruth,
    detections: Detections,
    *,
    num_classes: int,
    iou_threshold: float = 0.5,
    flat: Mapping | None = None,
) -> list[PRCurve]:
    """Precision-recall step curves of labels ``1..num_classes`` (entry ``l - 1``, see
    :class:`PRCurve`), every class matched at once by VOC's rule. ``flat``: :func:`flatten`'s
    output, when the caller already has it."""
    flat = flatten(gt, detections) if flat is None else flat
    order, match = match_detections(**flat, iou_threshold=iou_threshold)
    labels = flat["det_labels"][order]
    npos = np.bincount(flat["gt_labels"][~flat["gt_difficult"]], minlength=num_classes + 1)
    bounds = np.searchsorted(labels, np.arange(1, num_classes + 2), side="left")
    curves = []
    for label in range(1, num_classes + 1):
        if npos[label] == 0:
            curves.append(PRCurve(recall=np.array([0.0, 1.0]), precision=np.zeros(2), ap=float("nan"), num_gt=0))
            continue
        m = match[bounds[label - 1] : bounds[label]]
        tp = np.cumsum(m == TRUE_POSITIVE).astype(np.float64)
        fp = np.cumsum(m == FALSE_POSITIVE).astype(np.float64)
        mrec = np.concatenate(([0.0], tp / npos[label], [1.0]))
        mpre = np.concatenate(([0.0], tp / np.maximum(tp + fp, np.finfo(np.float64).eps), [0.0]))
        mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # the envelope, as voc_ap's area metric
        curves.append(PRCurve(recall=mrec, precision=mpre, ap=step_area(mrec, mpre), num_gt=int(npos[label])))
    return curves


def sample_curve(curve: PRCurve, points: np.ndarray = COCO_RECALL_POINTS) -> np.ndarray:
    """Precision at each recall point (the best precision at recall >= the point, 0 beyond the
    curve's reach), as COCOeval interpolates. ``float64 [len(points)]``."""
    reached = curve.recall[1:-1] if len(curve.recall) > 2 else np.zeros(0)
    best = curve.precision[1:-1] if len(curve.precision) > 2 else np.zeros(0)
    index = np.searchsorted(reached, points, side="left")
    padded = np.concatenate([best, [0.0]])
    return padded[index]


def mean_iou_curves(
    gt: GroundTruth,
    detections: Detections,
    *,
    num_classes: int,
    iou_thresholds: np.ndarray = COCO_IOU_THRESHOLDS,
    flat: Mapping | None = None,
) -> np.ndarray:
    """``float64 [num_classes, 101]``: each class's precision on :data:`COCO_RECALL_POINTS`,
    averaged over ``iou_thresholds`` (rows of classes without ground truth are NaN). A row's mean
    is the class's AP@[.5:.95]."""
    flat = flatten(gt, detections) if flat is None else flat
    return average_sampled(
        [pr_curves(gt, detections, num_classes=num_classes, iou_threshold=float(t), flat=flat) for t in iou_thresholds]
    )


def average_sampled(curves_per_threshold: Sequence[Sequence[PRCurve]]) -> np.ndarray:
    """``[K, 101]`` mean over thresholds of :func:`sample_curve` of each class's curve
    (``curves_per_threshold[t][l - 1]``); NaN rows for classes without ground truth."""
    nan = np.full(len(COCO_RECALL_POINTS), np.nan)
    return np.mean(
        [np.stack([sample_curve(c) if c.num_gt else nan for c in curves]) for curves in curves_per_threshold], axis=0
    )


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
