"""Matching default boxes to ground truth (Liu et al. 2016, §2.2 "Matching strategy").

Two rules, chosen by ``MODEL.MATCHER``; both then give every prior still unmatched its best ground
truth when their IoU is at least the threshold. They differ in how each ground truth is made sure
to get a prior:

- ``"bipartite"``, Caffe's ``MatchBBox`` (weiliu89/caffe, ssd branch, src/caffe/util/bbox_util.cpp,
  ``BIPARTITE`` then ``PER_PREDICTION`` as ssd_pascal.py / ssd_coco.py set it): repeatedly take the
  highest remaining overlap over all (prior, ground truth) pairs and pair them, removing both, until
  every ground truth has its own prior or no overlap is left. Each ground truth gets a *distinct*
  prior, so two objects that like the same prior best cannot take it from one another.
- ``"argmax"``, torchvision's ``SSDMatcher``, lufficc/SSD's ``assign_priors`` (ssd/utils/box_utils.py:
  a Python loop over targets writing each one's best prior, then ``index_fill_(..., 2)`` so those
  survive the threshold) and NVIDIA's ``Encoder.encode`` (the same with a duplicate-index write):
  each ground truth is forced onto the prior it overlaps most. When two ground
  truths pick the same prior, the later one (higher index) takes it and the earlier may be left with
  no positive at all; a ground truth overlapping no prior is forced onto prior 0.

Indices, not boxes, go in and out: ``iou`` is ``Tensor[G, P]`` (ground truths x priors) and a match
is ``Tensor[P]`` int64, the ground-truth index of each prior or ``-1`` for background.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torchvision.ops import box_iou

BACKGROUND = -1
# Caffe stores an overlap only when it is above this (bbox_util.cpp, MatchBBox): pairs that do not
# overlap are never matched by the bipartite step.
_MIN_OVERLAP = 1e-6


def _threshold_matches(iou: Tensor, threshold: float) -> Tensor:
    """Per prior, its best ground truth where their IoU is >= ``threshold``, else ``-1``. On ties the
    lowest ground-truth index wins (``max`` returns the first maximum), as in Caffe."""
    best_iou, best_gt = iou.max(dim=0)
    return torch.where(best_iou >= threshold, best_gt, torch.full_like(best_gt, BACKGROUND))


def argmax_matches(iou: Tensor, threshold: float) -> Tensor:
    """torchvision's ``SSDMatcher``: threshold matches, then each ground truth ``g`` overwrites the
    match of its best prior ``iou[g].argmax()`` (even below the threshold). Where several ground
    truths share a best prior, the highest index wins, on every device (torchvision's duplicate-index
    write, and lufficc's Python loop over ground truths, give the same on the CPU)."""
    num_gt, num_priors = iou.shape
    if num_gt == 0:
        return torch.full((num_priors,), BACKGROUND, dtype=torch.int64, device=iou.device)
    matches = _threshold_matches(iou, threshold)
    forced = torch.full_like(matches, BACKGROUND)
    forced.scatter_reduce_(0, iou.argmax(dim=1), torch.arange(num_gt, device=iou.device), reduce="amax")
    return torch.where(forced >= 0, forced, matches)


def bipartite_matches(iou: Tensor, threshold: float) -> Tensor:
    """Caffe's ``MatchBBox`` with ``match_type: PER_PREDICTION``.

    Bipartite step: ``G`` rounds of a global maximum over the pairs not yet used; the pair is
    matched, and its prior and its ground truth leave the pool. Ties go to the lowest prior index,
    then the lowest ground-truth index (Caffe scans predictions, then ground truths, keeping a
    strictly larger overlap). Pairs with no overlap (<= 1e-6) are never matched, so a ground truth
    overlapping no prior stays unmatched. Then the per-prediction step: :func:`_threshold_matches`
    for the priors left over. The loop runs ``G`` times whatever the data and reads no value back to
    the host (1-element index tensors, no ``.item()``).
    """
    num_gt, num_priors = iou.shape
    if num_gt == 0:
        return torch.full((num_priors,), BACKGROUND, dtype=torch.int64, device=iou.device)
    matches = torch.full((num_priors,), BACKGROUND, dtype=torch.int64, device=iou.device)
    # [P, G] row-major: flat index prior * G + gt, so argmax's first maximum is Caffe's scan order
    pool = iou.t().clone(memory_format=torch.contiguous_format)
    flat_pool = pool.view(-1)
    for _ in range(num_gt):
        flat = flat_pool.argmax().view(1)  # 1-element index tensors: no .item(), no sync
        found = flat_pool[flat] > _MIN_OVERLAP
        prior, gt = flat // num_gt, flat % num_gt
        matches[prior] = torch.where(found, gt, matches[prior])
        # once nothing overlaps any more, nothing is matched; clearing rows / columns is then harmless
        pool[prior] = -1.0
        pool[:, gt] = -1.0
    best_iou, best_gt = iou.max(dim=0)
    rest = (matches < 0) & (best_iou >= threshold) & (best_iou > _MIN_OVERLAP)
    return torch.where(rest, best_gt, matches)


MATCHERS: dict[str, Callable[[Tensor, float], Tensor]] = {
    "bipartite": bipartite_matches,
    "argmax": argmax_matches,
}


def match_from_iou(iou: Tensor, threshold: float, matcher: str = "argmax") -> Tensor:
    """``iou``: ``Tensor[G, P]`` ground truth x priors -> ``Tensor[P]`` int64, the index of the ground
    truth each prior is matched to, or ``-1`` for background. ``G == 0`` gives all background."""
    if matcher not in MATCHERS:
        raise ValueError(f"matcher = {matcher!r}; expected one of {list(MATCHERS)}")
    return MATCHERS[matcher](iou, threshold)


def match_priors(gt_boxes: Tensor, priors: Tensor, threshold: float = 0.5, matcher: str = "argmax") -> Tensor:
    """``gt_boxes`` ``Tensor[G, 4]`` and ``priors`` ``Tensor[P, 4]``, both xyxy pixels ->
    ``Tensor[P]`` matched ground-truth index or ``-1``."""
    if gt_boxes.numel() == 0:
        return torch.full((priors.shape[0],), BACKGROUND, dtype=torch.int64, device=priors.device)
    return match_from_iou(box_iou(gt_boxes, priors), threshold, matcher)
