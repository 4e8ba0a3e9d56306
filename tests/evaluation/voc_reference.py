"""A straightforward VOC AP, written loop by loop after chainercv's ``eval_detection_voc`` (per
image, per class: sort that image's detections, IoU matrix against that image's ground truth,
greedy claims; then one sort per class and the cumulative sums).

It is the independent oracle the vectorised :mod:`ssd.evaluation.voc_ap` is tested against, and
the baseline the VOC evaluator is timed against (chainercv itself no longer installs: its setup
needs ``pkg_resources``); run as a script it prints that timing with the COCO one::

    PYTHONPATH=. python tests/evaluation/voc_reference.py [--images 5000] [--rounds 3]

Two conventions are this project's, not chainercv's: boxes are
continuous (no ``+1`` in widths), and score ties keep their input order (a stable sort, like the
devkit's ``sort(-confidence)``) instead of numpy's unspecified order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _ap(recall: np.ndarray, precision: np.ndarray, use_07_metric: bool) -> float:
    if use_07_metric:
        total = 0.0
        for t in np.linspace(0.0, 1.0, 11):
            above = precision[recall >= t]
            total += float(above.max()) if above.size else 0.0
        return total / 11.0
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    for i in range(len(mpre) - 1, 0, -1):
        mpre[i - 1] = max(mpre[i - 1], mpre[i])
    changes = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[changes + 1] - mrec[changes]) * mpre[changes + 1]))


def reference_voc_ap(
    *,
    pred_boxes: Sequence[np.ndarray],
    pred_labels: Sequence[np.ndarray],
    pred_scores: Sequence[np.ndarray],
    gt_boxes: Sequence[np.ndarray],
    gt_labels: Sequence[np.ndarray],
    gt_difficult: Sequence[np.ndarray],
    num_classes: int,
    use_07_metric: bool,
    iou_threshold: float = 0.5,
) -> np.ndarray:
    """AP ``[num_classes]`` (label ``l`` at ``l - 1``; NaN without non-difficult ground truth) of
    per-image lists: ``pred_boxes[i] [R, 4]`` xyxy, ``pred_labels[i] [R]``, ``pred_scores[i] [R]``,
    ``gt_boxes[i] [G, 4]``, ``gt_labels[i] [G]``, ``gt_difficult[i] [G]`` bool."""
    n_pos = np.zeros(num_classes + 1, dtype=np.int64)
    scores: list[list[float]] = [[] for _ in range(num_classes + 1)]
    matches: list[list[int]] = [[] for _ in range(num_classes + 1)]
    for boxes, labels, score, g_boxes, g_labels, g_difficult in zip(
        pred_boxes, pred_labels, pred_scores, gt_boxes, gt_labels, gt_difficult, strict=True
    ):
        for label in np.unique(np.concatenate((labels, g_labels)).astype(np.int64)):
            mine = labels == label
            b, s = boxes[mine], score[mine]
            order = np.argsort(-s, kind="stable")
            b, s = b[order], s[order]
            g_mine = g_labels == label
            g, hard = g_boxes[g_mine], g_difficult[g_mine]
            n_pos[label] += int(np.logical_not(hard).sum())
            scores[label].extend(s.tolist())
            if len(b) == 0:
                continue
            if len(g) == 0:
                matches[label].extend([0] * len(b))
                continue
            iou = _iou_matrix(b, g)
            best = iou.argmax(axis=1)
            best[iou.max(axis=1) < iou_threshold] = -1
            taken = np.zeros(len(g), dtype=bool)
            for j in best:
                if j < 0:
                    matches[label].append(0)
                elif hard[j]:
                    matches[label].append(-1)
                else:
                    matches[label].append(0 if taken[j] else 1)
                    taken[j] = True
    aps = np.full(num_classes, np.nan)
    for label in range(1, num_classes + 1):
        if n_pos[label] == 0:
            continue
        order = np.argsort(-np.asarray(scores[label], dtype=np.float64), kind="stable")
        m = np.asarray(matches[label], dtype=np.int8)[order]
        tp = np.cumsum(m == 1)
        fp = np.cumsum(m == 0)
        precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        aps[label - 1] = _ap(tp / n_pos[label], precision, use_07_metric)
    return aps


def main() -> None:
    """``ssd benchmark --eval`` with this reference as the VOC baseline (the report as JSON)."""
    import argparse
    import json

    from ssd.evaluation.benchmark import benchmark_evaluators

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--images", type=int, default=5000, help="images of the synthetic detection set")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the interleaved timing")
    args = parser.parse_args()
    print(json.dumps(benchmark_evaluators(args.images, args.rounds, voc_reference=reference_voc_ap), indent=2))


if __name__ == "__main__":
    main()
