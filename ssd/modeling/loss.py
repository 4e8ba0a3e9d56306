"""Training losses of the box head.

A loss takes the predictor's outputs and the matched targets of every prior:

- ``cls_logits``: ``Tensor[B, P, C]``, column 0 is background
- ``box_deltas``: ``Tensor[B, P, 4]`` encoded offsets (see :mod:`ssd.modeling.box_coder`)
- ``labels``: ``Tensor[B, P]`` int64 matched class per prior, 0 = background
- ``target_deltas``: ``Tensor[B, P, 4]`` encoded matched ground truth (ignored where ``labels == 0``)

and returns ``{"loss_box": Tensor[], "loss_cls": Tensor[]}``.

Every loss is a :class:`DetectionLoss`: besides computing, it declares what the rest of the model
must agree with (the score activation postprocess applies, the prior the class biases start at), so
the builder reads these once from the built loss and no code tests a loss's name.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import sigmoid_focal_loss

from ..config.choices import LOSS_NORMALISATIONS
from ..utils.distributed import all_reduce_sum, get_world_size
from .registry import LOSSES


class DetectionLoss(ABC):
    """The contract of every entry of ``LOSSES`` (as mmdetection's heads read ``use_sigmoid`` from
    their loss and size the classifier from it, ``mmdet/models/dense_heads/anchor_head.py``).

    Attributes:
        score_activation: how postprocess turns logits into scores, one of
            :data:`ssd.modeling.postprocess.SCORE_ACTIVATIONS`: ``"softmax"`` (the ``C`` columns,
            background included, compete) or ``"sigmoid"`` (each foreground column on its own).
        cls_bias_prior: foreground probability ``p`` the predictor's class biases start at
            (``-log((1 - p) / p)``, Lin et al. 2017 §3.3), or ``None`` to start them at zero.
    """

    score_activation: ClassVar[str]

    @property
    @abstractmethod
    def cls_bias_prior(self) -> float | None: ...

    @abstractmethod
    def __call__(
        self, cls_logits: Tensor, box_deltas: Tensor, labels: Tensor, target_deltas: Tensor
    ) -> dict[str, Tensor]: ...


def positive_normaliser(positive: Tensor, dtype: torch.dtype) -> Tensor:
    """The divisor ``N`` of both loss terms (paper eq. 1): the number of positive priors in the batch,
    1 if there are none.

    In a distributed run the batch is the *global* one: every rank divides by the positives summed
    over all ranks (one all-reduce of one number), times the world size because
    DistributedDataParallel then averages the gradients over ranks. The step then equals one process
    on the whole batch (exactly so when BatchNorm is frozen or synchronised), instead of each rank
    weighting its images by its own positive count. Every rank must therefore call the loss at each
    step, as DDP training does; never call it in training mode on one rank alone.

    Args:
        positive: ``Tensor[B, P]`` bool, this rank's positive priors.
    Returns:
        ``Tensor[]`` of ``dtype``: ``max(total positives, 1) / world size``.
    """
    world_size = get_world_size()
    count = positive.sum()
    if world_size == 1:
        return count.clamp(min=1).to(dtype)
    return all_reduce_sum(count).clamp(min=1).to(dtype) / world_size


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


# How the multibox loss is normalised (LOSS_NORMALISATIONS): "batch" (paper eq. 1, Caffe, lufficc,
# torchvision: by the batch's positives) or "image" (NVIDIA DeepLearningExamples SSD: each image by
# its own positives, images without any count 0, then the mean over the batch)


@dataclass(frozen=True)
class MultiBoxLoss(DetectionLoss):
    """SSD's objective (paper eq. 1): Smooth L1 on positives plus softmax cross-entropy on positives
    and mined hard negatives, both divided by the number of positives in the batch (1 if none; see
    :func:`positive_normaliser`); or, with ``normalisation="image"``, NVIDIA's form
    ``mean_i(loss_i / N_i)`` over the images, 0 for an image with no positives
    (``(total_loss * num_mask / pos_num).mean(0)``; under DDP the gradient average over ranks makes
    it the mean over the global batch). Softmax scores, class biases starting at zero."""

    score_activation: ClassVar[str] = "softmax"
    cls_bias_prior: ClassVar[None] = None

    neg_pos_ratio: float = 3.0
    min_negatives: int = 0
    normalisation: str = "batch"

    def __post_init__(self) -> None:
        if self.normalisation not in LOSS_NORMALISATIONS:
            raise ValueError(
                f"loss normalisation = {self.normalisation!r}; expected one of {list(LOSS_NORMALISATIONS)}"
            )

    def __call__(
        self, cls_logits: Tensor, box_deltas: Tensor, labels: Tensor, target_deltas: Tensor
    ) -> dict[str, Tensor]:
        num_classes = cls_logits.shape[-1]
        positive = labels > 0
        ce = F.cross_entropy(
            cls_logits.reshape(-1, num_classes).float(), labels.reshape(-1), reduction="none"
        ).view_as(labels)
        negative = hard_negative_mask(ce, positive, self.neg_pos_ratio, self.min_negatives)
        if self.normalisation == "image":
            per_prior = F.smooth_l1_loss(box_deltas, target_deltas, reduction="none", beta=1.0).sum(-1)
            box_per_image = (per_prior * positive).sum(1)
            cls_per_image = (ce * (positive | negative)).sum(1)
            num_pos = positive.sum(1)
            weight = (num_pos > 0).to(ce.dtype) / num_pos.clamp(min=1).to(ce.dtype)
            return {"loss_box": (box_per_image * weight).mean(), "loss_cls": (cls_per_image * weight).mean()}
        normaliser = positive_normaliser(positive, cls_logits.dtype)
        box_loss = positive_box_loss(box_deltas, target_deltas, positive)
        cls_loss = ce[positive | negative].sum()
        return {"loss_box": box_loss / normaliser, "loss_cls": cls_loss / normaliser}


@LOSSES.register("multibox")
def build_multibox_loss(cfg) -> MultiBoxLoss:
    return MultiBoxLoss(neg_pos_ratio=cfg.MODEL.NEG_POS_RATIO, min_negatives=cfg.MODEL.MIN_NEGATIVES,
                        normalisation=cfg.MODEL.LOSS_NORMALISATION)


@dataclass(frozen=True)
class FocalLoss(DetectionLoss):
    """RetinaNet's objective (Lin et al. 2017, §3.2 and §4 "Focal loss"): sigmoid focal loss over
    *all* priors (no hard negative mining) times ``cls_weight``, Smooth L1 on positives, both divided
    by the number of positives in the batch (1 if none; see :func:`positive_normaliser`).

    The logits keep SSD's ``C`` columns with column 0 = background; the sigmoid loss treats each
    foreground class as an independent binary problem, so column 0 is ignored and the targets are
    one-hot over columns ``1..C-1`` (a background prior is all zeros). Computed by
    :func:`torchvision.ops.sigmoid_focal_loss`. Sigmoid scores; class biases start at
    ``cls_bias_prior`` (Lin et al. §3.3: 0.01).

    houqb/ssdlite-pytorch-mobilenext (ssd/modeling/box_head/loss.py, ``FocalLoss``) returns
    ``5 * loss.sum() / num_pos`` for the classification term: ``cls_weight = 5`` reproduces it.
    """

    score_activation: ClassVar[str] = "sigmoid"

    alpha: float = 0.25
    gamma: float = 2.0
    cls_weight: float = 1.0
    cls_bias_prior: float = 0.01

    def __post_init__(self) -> None:
        if not 0.0 < self.cls_bias_prior < 1.0:
            raise ValueError(f"cls_bias_prior = {self.cls_bias_prior}: a probability in (0, 1) is needed")
        if not (self.cls_weight > 0 and math.isfinite(self.cls_weight)):
            raise ValueError(f"cls_weight = {self.cls_weight}: a positive weight is needed")

    def __call__(
        self, cls_logits: Tensor, box_deltas: Tensor, labels: Tensor, target_deltas: Tensor
    ) -> dict[str, Tensor]:
        num_classes = cls_logits.shape[-1]
        positive = labels > 0
        normaliser = positive_normaliser(positive, cls_logits.dtype)
        box_loss = positive_box_loss(box_deltas, target_deltas, positive)
        targets = F.one_hot(labels, num_classes)[..., 1:].to(torch.float32)
        cls_loss = sigmoid_focal_loss(
            cls_logits[..., 1:].float(), targets, alpha=self.alpha, gamma=self.gamma, reduction="sum"
        )
        cls_loss = cls_loss * self.cls_weight
        return {"loss_box": box_loss / normaliser, "loss_cls": cls_loss / normaliser}


@LOSSES.register("focal")
def build_focal_loss(cfg) -> FocalLoss:
    m = cfg.MODEL
    return FocalLoss(alpha=m.FOCAL_ALPHA, gamma=m.FOCAL_GAMMA, cls_weight=m.FOCAL_CLS_WEIGHT,
                     cls_bias_prior=m.FOCAL_PRIOR)
