"""From predictor outputs to detections (Liu et al. 2016, §3 "Inference").

Vectorised over classes: one ``topk`` over all classes at once bounds the candidates to
``topk_candidates`` per class whatever the scores, then one class-aware ``batched_nms``.
An untrained model, whose scores all pass the threshold, therefore costs the same as a trained one.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import batched_nms, clip_boxes_to_image

from .box_coder import BoxCoder

# What a loss may declare as its ``score_activation`` (ssd.modeling.loss.DetectionLoss).
SCORE_ACTIVATIONS = ("softmax", "sigmoid")


def class_scores(cls_logits: Tensor, activation: str = "softmax") -> Tensor:
    """``Tensor[..., C]`` logits -> ``Tensor[..., C - 1]`` foreground scores (class ``c`` at column
    ``c - 1``): softmax over all ``C`` columns, or a sigmoid per column, as the loss declares."""
    if activation == "softmax":
        return torch.softmax(cls_logits.float(), dim=-1)[..., 1:]
    if activation == "sigmoid":
        return torch.sigmoid(cls_logits.float())[..., 1:]
    raise ValueError(f"activation = {activation!r}; expected one of {list(SCORE_ACTIVATIONS)}")


def select_detections(
    boxes: Tensor,
    scores: Tensor,
    *,
    score_threshold: float,
    nms_threshold: float,
    topk_candidates: int,
    max_detections: int,
) -> dict[str, Tensor]:
    """Detections of one image.

    Args:
        boxes: ``Tensor[P, 4]`` decoded xyxy boxes, one per prior (shared by all classes).
        scores: ``Tensor[P, K]`` foreground scores, class ``c`` in column ``c - 1``.
    Returns:
        ``{"boxes": Tensor[D, 4], "scores": Tensor[D], "labels": Tensor[D] int64 in 1..K}``, sorted
        by decreasing score, ``D <= max_detections``.
    """
    k = min(topk_candidates, scores.shape[0])
    top_scores, top_priors = scores.t().topk(k, dim=1)  # [K, k]: best k priors of every class
    keep = top_scores > score_threshold
    cand_scores = top_scores[keep]
    cand_labels = keep.nonzero()[:, 0] + 1
    cand_boxes = boxes[top_priors[keep]]
    kept = batched_nms(cand_boxes, cand_scores, cand_labels, nms_threshold)[:max_detections]
    return {"boxes": cand_boxes[kept], "scores": cand_scores[kept], "labels": cand_labels[kept]}


def postprocess_detections(
    cls_logits: Tensor,
    box_deltas: Tensor,
    priors: Tensor,
    *,
    box_coder: BoxCoder,
    image_size: tuple[int, int],
    score_threshold: float,
    nms_threshold: float,
    topk_candidates: int,
    max_detections: int,
    activation: str = "softmax",
    clip_boxes: bool = True,
    clip_after_nms: bool = False,
) -> list[dict[str, Tensor]]:
    """``cls_logits`` ``Tensor[B, P, C]``, ``box_deltas`` ``Tensor[B, P, 4]``, ``priors``
    ``Tensor[P, 4]`` -> one :func:`select_detections` dict per image, boxes xyxy in pixels of the
    ``image_size = (H, W)`` network input, clipped to it before NMS when ``clip_boxes`` (torchvision
    does, lufficc does not), or after it when ``clip_after_nms`` (the TF object-detection API, whose
    NMS sees the unclipped boxes)."""
    scores = class_scores(cls_logits, activation)
    boxes = box_coder.decode(box_deltas.float(), priors)
    if clip_boxes:
        boxes = clip_boxes_to_image(boxes, image_size)
    results = [
        select_detections(
            boxes[i],
            scores[i],
            score_threshold=score_threshold,
            nms_threshold=nms_threshold,
            topk_candidates=topk_candidates,
            max_detections=max_detections,
        )
        for i in range(scores.shape[0])
    ]
    if clip_after_nms:
        for r in results:
            r["boxes"] = clip_boxes_to_image(r["boxes"], image_size)
    return results
