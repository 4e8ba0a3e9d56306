"""Training losses of the box head.

A loss takes the predictor's outputs and the matched targets of every prior:

- ``cls_logits``: ``Tensor[B, P, C]``, column 0 is background
- ``box_deltas``: ``Tensor[B, P, 4]`` encoded offsets (see :mod:`ssd.modeling.box_coder`)
- ``labels``: ``Tensor[B, P]`` int64 matched class per prior, 0 = background
- ``target_deltas``: ``Tensor[B, P, 4]`` encoded matched ground truth (ignored where ``labels == 0``)

and returns ``{"loss_box": Tensor[], "loss_cls": Tensor[]}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import sigmoid_focal_loss

from .registry import LOSSES


def hard_negative_mask(
    loss: Tensor, positive: Tensor, neg_pos_ratio: float, min_negatives: int = 0
) -> Tensor:
    """Hard negative mining (Liu et al. 2016, §2.2 "Hard negative mining").

    Per image, keep the ``neg_pos_ratio * num_positives`` negatives with the highest loss (at least
    ``min_negatives``, at most every negative there is).

    Args:
        loss: ``Tensor[B, P]`` per-prior classification loss (its ranking is all that matters).
        positive: ``Tensor[B, P]`` bool, priors matched to an object.
    Returns:
        ``Tensor[B, P]`` bool, the negatives to train on.
    """
    with torch.no_grad():
        num_pos = positive.sum(dim=1, keepdim=True)
        num_neg = (num_pos * neg_pos_ratio).long().clamp(min=min_negatives)
        num_neg = torch.minimum(num_neg, positive.shape[1] - num_pos)
        ranked = loss.detach().masked_fill(positive, float("-inf"))
        order = ranked.argsort(dim=1, descending=True)
        rank = order.argsort(dim=1)
        return (rank < num_neg) & ~positive


def positive_box_loss(box_deltas: Tensor, target_deltas: Tensor, positive: Tensor) -> Tensor:
    """Summed Smooth L1 (beta 1, paper eq. 2) over the positive priors; 0 when there are none."""
    return F.smooth_l1_loss(box_deltas[positive], target_deltas[positive], reduction="sum", beta=1.0)


@dataclass(frozen=True)
class MultiBoxLoss:
    """SSD's objective (paper eq. 1): Smooth L1 on positives plus softmax cross-entropy on positives
    and mined hard negatives, both divided by the number of positives in the batch (1 if none)."""

    neg_pos_ratio: float = 3.0
    min_negatives: int = 0

    def __call__(
        self, cls_logits: Tensor, box_deltas: Tensor, labels: Tensor, target_deltas: Tensor
    ) -> dict[str, Tensor]:
        num_classes = cls_logits.shape[-1]
        positive = labels > 0
        normaliser = positive.sum().clamp(min=1).to(cls_logits.dtype)
        box_loss = positive_box_loss(box_deltas, target_deltas, positive)
        ce = F.cross_entropy(
            cls_logits.reshape(-1, num_classes).float(), labels.reshape(-1), reduction="none"
        ).view_as(labels)
        negative = hard_negative_mask(ce, positive, self.neg_pos_ratio, self.min_negatives)
        cls_loss = ce[positive | negative].sum()
        return {"loss_box": box_loss / normaliser, "loss_cls": cls_loss / normaliser}


@LOSSES.register("multibox")
def build_multibox_loss(cfg) -> MultiBoxLoss:
    return MultiBoxLoss(neg_pos_ratio=cfg.MODEL.NEG_POS_RATIO, min_negatives=cfg.MODEL.MIN_NEGATIVES)


@dataclass(frozen=True)
class FocalLoss:
    """RetinaNet's objective (Lin et al. 2017, §3.2 and §4 "Focal loss"): sigmoid focal loss over
    *all* priors (no hard negative mining), Smooth L1 on positives, both divided by the number of
    positives in the batch (1 if none).

    The logits keep SSD's ``C`` columns with column 0 = background; the sigmoid loss treats each
    foreground class as an independent binary problem, so column 0 is ignored and the targets are
    one-hot over columns ``1..C-1`` (a background prior is all zeros). Computed by
    :func:`torchvision.ops.sigmoid_focal_loss`.
    """

    alpha: float = 0.25
    gamma: float = 2.0

    def __call__(
        self, cls_logits: Tensor, box_deltas: Tensor, labels: Tensor, target_deltas: Tensor
    ) -> dict[str, Tensor]:
        num_classes = cls_logits.shape[-1]
        positive = labels > 0
        normaliser = positive.sum().clamp(min=1).to(cls_logits.dtype)
        box_loss = positive_box_loss(box_deltas, target_deltas, positive)
        targets = F.one_hot(labels, num_classes)[..., 1:].to(torch.float32)
        cls_loss = sigmoid_focal_loss(
            cls_logits[..., 1:].float(), targets, alpha=self.alpha, gamma=self.gamma, reduction="sum"
        )
        return {"loss_box": box_loss / normaliser, "loss_cls": cls_loss / normaliser}


@LOSSES.register("focal")
def build_focal_loss(cfg) -> FocalLoss:
    return FocalLoss(alpha=cfg.MODEL.FOCAL_ALPHA, gamma=cfg.MODEL.FOCAL_GAMMA)
