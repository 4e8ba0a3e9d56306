"""Matching default boxes to ground truth (Liu et al. 2016, §2.2 "Matching strategy").

Every prior takes its best ground truth when their IoU is at least the threshold, and every ground
truth is then forced onto the prior it overlaps most, so no object goes unmatched: the semantics
of Caffe's ``MatchBBox`` (bipartite + per-prediction) and torchvision's ``SSDMatcher``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import box_iou

BACKGROUND = -1


def match_from_iou(iou: Tensor, threshold: float) -> Tensor:
    """``iou``: ``Tensor[G, P]`` ground truth x priors -> ``Tensor[P]`` int64, the index of the ground
    truth each prior is matched to, or ``-1`` for background. ``G == 0`` gives all background."""
    num_gt, num_priors = iou.shape
    if num_gt == 0:
        return torch.full((num_priors,), BACKGROUND, dtype=torch.int64, device=iou.device)
    best_iou, matches = iou.max(dim=0)
    matches = torch.where(best_iou >= threshold, matches, torch.full_like(matches, BACKGROUND))
    # Force each ground truth onto its best prior, even below the threshold.
    best_prior = iou.argmax(dim=1)
    matches[best_prior] = torch.arange(num_gt, device=iou.device)
    return matches


def match_priors(gt_boxes: Tensor, priors: Tensor, threshold: float = 0.5) -> Tensor:
    """``gt_boxes`` ``Tensor[G, 4]`` and ``priors`` ``Tensor[P, 4]``, both xyxy pixels ->
    ``Tensor[P]`` matched ground-truth index or ``-1``."""
    if gt_boxes.numel() == 0:
        return torch.full((priors.shape[0],), BACKGROUND, dtype=torch.int64, device=priors.device)
    return match_from_iou(box_iou(gt_boxes, priors), threshold)
