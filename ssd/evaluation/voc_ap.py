"""PASCAL VOC average precision as pure, vectorised numpy functions.

Boxes are xyxy in continuous pixel coordinates (no ``+1`` as in the original MATLAB devkit, so
numbers agree with COCO-style IoU). A detection matches a ground truth of its image and class when
IoU >= the threshold; detections are taken best score first (ties in input order, as the devkit's
stable ``sort(-confidence)``), each claims the ground truth it overlaps most; the first claim of a
ground truth is a true positive, later ones are duplicates (false positives); a detection whose
best match is a *difficult* object counts neither as true nor as false positive, and difficult
objects are not in the recall denominator (Everingham et al. 2010, §4.2).

Every class is matched at once: detections and ground truths are flat arrays, the IoUs are taken
only between pairs of the same (image, class), and "first claim" is a ``np.unique`` over the
claims in score order, so there is no Python loop over detections or images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

TRUE_POSITIVE, FALSE_POSITIVE, IGNORED = 1, 0, -1


def voc_ap(recall: np.ndarray, precision: np.ndarray, *, use_07_metric: bool) -> float:
    """AP from a precision/recall curve ordered by decreasing score (recall non-decreasing).

    ``use_07_metric``: the VOC2007 11-point interpolation (mean of the best precision at recall
    >= 0, 0.1, ..., 1). Otherwise the VOC2010+ area under the monotone precision envelope.
    """
    recall = np.asarray(recall, dtype=np.float64)
    precision = np.asarray(precision, dtype=np.float64)
    if recall.shape != precision.shape:
        raise ValueError(f"recall has shape {recall.shape} but precision has {precision.shape}")
    if use_07_metric:
        # recall is non-decreasing, so {recall >= t} is a suffix: the best precision on it is a
        # suffix maximum (0 where the suffix is empty)
        suffix_max = np.append(np.maximum.accumulate(precision[::-1])[::-1], 0.0)
        points = suffix_max[np.searchsorted(recall, np.linspace(0.0, 1.0, 11), side="left")]
        return float(sum(float(p) for p in points) / 11.0)
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # precision envelope, non-increasing
    changes = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[changes + 1] - mrec[changes]) * mpre[changes + 1]))


def box_iou_np(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``[N, M]`` of xyxy boxes ``a [N, 4]`` and ``b [M, 4]``."""
    return _paired_iou(np.repeat(a, len(b), axis=0), np.tile(b, (len(a), 1))).reshape(len(a), len(b))


def _paired_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of ``a[i]`` and ``b[i]`` for xyxy boxes ``a, b [P, 4]`` (0 where the union is empty)."""
    lt = np.maximum(a[:, :2], b[:, :2])
    rb = np.minimum(a[:, 2:], b[:, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def match_detections(
    *,
    det_images: np.ndarray,
    det_labels: np.ndarray,
    det_boxes: np.ndarray,
    det_scores: np.ndarray,
    gt_images: np.ndarray,
    gt_labels: np.ndarray,
    gt_boxes: np.ndarray,
    gt_difficult: np.ndarray,
    iou_threshold: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """VOC matching of every detection of every class (see the module docstring).

    Detections: ``det_images [D]`` int image index, ``det_labels [D]``, ``det_boxes [D, 4]`` xyxy,
    ``det_scores [D]``; ground truth: ``gt_images [G]``, ``gt_labels [G]``, ``gt_boxes [G, 4]``,
    ``gt_difficult [G]`` bool. Returns ``(order [D], match [D])``: ``order`` sorts the detections
    by label, then score descending (ties in input order); ``match[i]`` is the outcome of detection
    ``order[i]``: :data:`TRUE_POSITIVE`, :data:`FALSE_POSITIVE` or :data:`IGNORED`.
    """
    det_images = np.asarray(det_images, dtype=np.int64).reshape(-1)
    det_labels = np.asarray(det_labels, dtype=np.int64).reshape(-1)
    det_boxes = np.asarray(det_boxes, dtype=np.float64).reshape(-1, 4)
    det_scores = np.asarray(det_scores, dtype=np.float64).reshape(-1)
    gt_images = np.asarray(gt_images, dtype=np.int64).reshape(-1)
    gt_labels = np.asarray(gt_labels, dtype=np.int64).reshape(-1)
    gt_boxes = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    gt_difficult = np.asarray(gt_difficult, dtype=bool).reshape(-1)
    n_det = len(det_scores)
    if not len(det_images) == len(det_labels) == len(det_boxes) == n_det:
        raise ValueError(f"detection arrays differ in length: images {len(det_images)}, labels {len(det_labels)}, "
                         f"boxes {len(det_boxes)}, scores {n_det}")
    if not len(gt_images) == len(gt_labels) == len(gt_boxes) == len(gt_difficult):
        raise ValueError(f"ground-truth arrays differ in length: images {len(gt_images)}, labels {len(gt_labels)}, "
                         f"boxes {len(gt_boxes)}, difficult {len(gt_difficult)}")
    order = np.lexsort((np.arange(n_det), -det_scores, det_labels))  # last key is the primary one
    match = np.full(n_det, FALSE_POSITIVE, dtype=np.int8)
    if n_det == 0 or len(gt_labels) == 0:
        return order, match
    # ground truths grouped by (label, image): each detection's candidates are one contiguous run
    n_images = int(max(det_images.max(), gt_images.max())) + 1
    gt_key = gt_labels * n_images + gt_images
    gt_sort = np.argsort(gt_key, kind="stable")
    sorted_keys = gt_key[gt_sort]
    det_key = det_labels[order] * n_images + det_images[order]
    start = np.searchsorted(sorted_keys, det_key, side="left")
    count = np.searchsorted(sorted_keys, det_key, side="right") - start
    has_gt = count > 0
    if not has_gt.any():
        return order, match
    # one row per (detection, candidate ground truth) pair, detections in score order
    pair_det = np.repeat(np.arange(n_det), count)
    offsets = np.cumsum(count) - count
    pair_gt = gt_sort[np.repeat(start, count) + np.arange(len(pair_det)) - np.repeat(offsets, count)]
    iou = _paired_iou(det_boxes[order][pair_det], gt_boxes[pair_gt])
    # best candidate per detection: the first maximum (numpy's argmax) of its run
    seg = offsets[has_gt]
    best_iou = np.maximum.reduceat(iou, seg)
    is_best = iou == np.repeat(best_iou, count[has_gt])
    first = np.minimum.reduceat(np.where(is_best, np.arange(len(iou)), len(iou)), seg)
    best_gt = np.full(n_det, -1, dtype=np.int64)
    best_gt[has_gt] = np.where(best_iou >= iou_threshold, pair_gt[first], -1)
    claims = best_gt >= 0
    match[claims & gt_difficult[np.maximum(best_gt, 0)]] = IGNORED
    # the first (best-scored) claim of a non-difficult ground truth finds it; later ones duplicate it
    valid = np.flatnonzero(claims & ~gt_difficult[np.maximum(best_gt, 0)])
    _, first_claim = np.unique(best_gt[valid], return_index=True)
    match[valid[first_claim]] = TRUE_POSITIVE
    return order, match


def average_precisions(
    *,
    det_images: np.ndarray,
    det_labels: np.ndarray,
    det_boxes: np.ndarray,
    det_scores: np.ndarray,
    gt_images: np.ndarray,
    gt_labels: np.ndarray,
    gt_boxes: np.ndarray,
    gt_difficult: np.ndarray,
    num_classes: int,
    use_07_metric: bool,
    iou_threshold: float = 0.5,
) -> np.ndarray:
    """AP ``[num_classes]`` of labels ``1..num_classes`` (entry ``l - 1``) from flat arrays (see
    :func:`match_detections`); NaN for a class without non-difficult ground truth."""
    order, match = match_detections(
        det_images=det_images, det_labels=det_labels, det_boxes=det_boxes, det_scores=det_scores,
        gt_images=gt_images, gt_labels=gt_labels, gt_boxes=gt_boxes, gt_difficult=gt_difficult,
        iou_threshold=iou_threshold,
    )
    labels = np.asarray(det_labels, dtype=np.int64).reshape(-1)[order]
    gt_labels = np.asarray(gt_labels, dtype=np.int64).reshape(-1)
    npos = np.bincount(gt_labels[~np.asarray(gt_difficult, dtype=bool).reshape(-1)], minlength=num_classes + 1)
    bounds = np.searchsorted(labels, np.arange(1, num_classes + 2), side="left")
    aps = np.full(num_classes, np.nan)
    for label in range(1, num_classes + 1):
        if npos[label] == 0:
            continue
        m = match[bounds[label - 1] : bounds[label]]
        tp = np.cumsum(m == TRUE_POSITIVE)
        fp = np.cumsum(m == FALSE_POSITIVE)
        recall = tp / npos[label]
        precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        aps[label - 1] = voc_ap(recall, precision, use_07_metric=use_07_metric)
    return aps


def _flatten_ground_truth(gt_boxes: Mapping, gt_difficult: Mapping) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    index = {image_id: i for i, image_id in enumerate(gt_boxes)}
    boxes = [np.asarray(gt_boxes[k], dtype=np.float64).reshape(-1, 4) for k in gt_boxes]
    images = np.concatenate([np.full(len(b), index[k], np.int64) for k, b in zip(gt_boxes, boxes, strict=True)] or
                            [np.zeros(0, np.int64)])
    difficult = np.concatenate([np.asarray(gt_difficult[k], dtype=bool).reshape(-1) for k in gt_boxes] or
                               [np.zeros(0, bool)])
    return index, images, np.concatenate(boxes or [np.zeros((0, 4))]), difficult


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
    index, gt_images, boxes, difficult = _flatten_ground_truth(gt_boxes, gt_difficult)
    for image_id in det_image_ids:
        index.setdefault(image_id, len(index))  # an image without ground truth of this class
    scores = np.asarray(det_scores, dtype=np.float64).reshape(-1)
    _, match = match_detections(
        det_images=np.array([index[i] for i in det_image_ids], dtype=np.int64), det_labels=np.ones(len(scores)),
        det_boxes=det_boxes, det_scores=scores, gt_images=gt_images, gt_labels=np.ones(len(gt_images)),
        gt_boxes=boxes, gt_difficult=difficult, iou_threshold=iou_threshold,
    )
    npos = int((~difficult).sum())
    tp = np.cumsum(match == TRUE_POSITIVE).astype(np.float64)
    fp = np.cumsum(match == FALSE_POSITIVE).astype(np.float64)
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
