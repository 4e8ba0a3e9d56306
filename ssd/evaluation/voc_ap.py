"""PASCAL VOC average precision as pure numpy functions.

Boxes are xyxy in continuous pixel coordinates (no ``+1`` as in the original MATLAB devkit, so
numbers agree with COCO-style IoU). A detection matches a ground truth when IoU >= the threshold;
a detection whose best match is a *difficult* object counts neither as true nor as false positive,
and difficult objects are not in the recall denominator (Everingham et al. 2010, §4.2).
Written against plain numpy (no ``np.bool`` / ``np.int`` aliases removed in numpy 1.24).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def voc_ap(recall: np.ndarray, precision: np.ndarray, *, use_07_metric: bool) -> float:
    """AP from a precision/recall curve ordered by decreasing score.

    ``use_07_metric``: the VOC2007 11-point interpolation (mean of the best precision at recall
    >= 0, 0.1, ..., 1). Otherwise the VOC2010+ area under the monotone precision envelope.
    """
    recall = np.asarray(recall, dtype=np.float64)
    precision = np.asarray(precision, dtype=np.float64)
    if recall.shape != precision.shape:
        raise ValueError(f"recall has shape {recall.shape} but precision has {precision.shape}")
    if use_07_metric:
        total = 0.0
        for t in np.linspace(0.0, 1.0, 11):
            above = precision[recall >= t]
            total += float(above.max()) if above.size else 0.0
        return total / 11.0
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # precision envelope, non-increasing
    changes = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[changes + 1] - mrec[changes]) * mpre[changes + 1]))


def box_iou_np(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``[N, M]`` of xyxy boxes ``a [N, 4]`` and ``b [M, 4]``."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def precision_recall(
    *,
    det_image_ids: Sequence,
    det_boxes: np.ndarray,
    det_scores: np.ndarray,
    gt_boxes: Mapping,
    gt_difficult: Mapping,
    iou_threshold: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Precision and recall after each detection of one class, best score first.

    ``det_boxes [D, 4]``, ``det_scores [D]`` and ``det_image_ids`` (length D) are one class's
    detections; ``gt_boxes[image_id] [G, 4]`` and ``gt_difficult[image_id] [G] bool`` that class's
    ground truth per image. Returns ``(recall [D], precision [D], npos)`` where ``npos`` counts
    non-difficult ground truths (recall is all NaN when it is 0).
    """
    npos = int(sum(int((~np.asarray(d, dtype=bool)).sum()) for d in gt_difficult.values()))
    order = np.argsort(-np.asarray(det_scores, dtype=np.float64), kind="stable")
    det_boxes = np.asarray(det_boxes, dtype=np.float64).reshape(-1, 4)[order]
    det_image_ids = [det_image_ids[i] for i in order]
    matched = {k: np.zeros(len(v), dtype=bool) for k, v in gt_boxes.items()}
    tp = np.zeros(len(order))
    fp = np.zeros(len(order))
    for d, image_id in enumerate(det_image_ids):
        gts = np.asarray(gt_boxes.get(image_id, np.zeros((0, 4))), dtype=np.float64).reshape(-1, 4)
        if gts.shape[0] == 0:
            fp[d] = 1
            continue
        ious = box_iou_np(det_boxes[d : d + 1], gts)[0]
        best = int(ious.argmax())
        if ious[best] < iou_threshold:
            fp[d] = 1
        elif bool(np.asarray(gt_difficult[image_id], dtype=bool)[best]):
            continue  # ignored: neither true nor false positive
        elif not matched[image_id][best]:
            tp[d] = 1
            matched[image_id][best] = True
        else:
            fp[d] = 1  # duplicate detection of an already found object
    tp = np.cumsum(tp)
    fp = np.cumsum(fp)
    recall = tp / npos if npos > 0 else np.full_like(tp, np.nan)
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return recall, precision, npos


def class_ap(
    *,
    det_image_ids: Sequence,
    det_boxes: np.ndarray,
    det_scores: np.ndarray,
    gt_boxes: Mapping,
    gt_difficult: Mapping,
    use_07_metric: bool,
    iou_threshold: float = 0.5,
) -> float:
    """AP of one class (NaN when the class has no non-difficult ground truth)."""
    recall, precision, npos = precision_recall(
        det_image_ids=det_image_ids,
        det_boxes=det_boxes,
        det_scores=det_scores,
        gt_boxes=gt_boxes,
        gt_difficult=gt_difficult,
        iou_threshold=iou_threshold,
    )
    if npos == 0:
        return float("nan")
    return voc_ap(recall, precision, use_07_metric=use_07_metric)
