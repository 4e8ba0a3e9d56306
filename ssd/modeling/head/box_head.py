"""The SSD box head: predictor + default boxes + matching/loss in training, postprocess in eval."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..box_coder import BoxCoder
from ..matcher import MATCHERS, match_priors
from ..postprocess import postprocess_detections


@dataclass(frozen=True)
class PostprocessSettings:
    """Test-time thresholds (the config's ``TEST.*``)."""

    score_threshold: float = 0.01
    nms_threshold: float = 0.45
    topk_candidates: int = 200
    max_detections: int = 100
    activation: str = "softmax"  # the loss's score_activation (ssd.modeling.loss.DetectionLoss)
    clip_boxes: bool = True  # clip decoded boxes to the input before NMS
    clip_after_nms: bool = False  # clip the detections after NMS (TF object-detection API)


def build_targets(
    targets: list[dict[str, Tensor]],
    priors: Tensor,
    box_coder: BoxCoder,
    iou_threshold: float,
    matcher: str = "argmax",
) -> tuple[Tensor, Tensor]:
    """Per-prior training targets of a batch.

    Args:
        targets: per image ``{"boxes": Tensor[N, 4] xyxy pixels, "labels": Tensor[N] int64 1..K}``;
            ``N = 0`` is valid (all priors background).
        priors: ``Tensor[P, 4]`` xyxy pixels.
        matcher: a rule of :data:`ssd.modeling.matcher.MATCHERS` (``"bipartite"`` or ``"argmax"``).
    Returns:
        ``labels Tensor[B, P]`` int64 (0 = background) and encoded ``deltas Tensor[B, P, 4]``.
    """
    all_labels, all_deltas = [], []
    for t in targets:
        boxes = t["boxes"].to(priors)
        matches = match_priors(boxes, priors, iou_threshold, matcher)
        if boxes.numel() == 0:
            labels = torch.zeros_like(matches)
            deltas = torch.zeros_like(priors)
        else:
            labels = torch.where(matches >= 0, t["labels"].to(matches.device)[matches.clamp(min=0)], 0)
            deltas = box_coder.encode(boxes[matches.clamp(min=0)], priors)
        all_labels.append(labels)
        all_deltas.append(deltas)
    return torch.stack(all_labels), torch.stack(all_deltas)


class SSDBoxHead(nn.Module):
    """Training: ``forward(features, targets) -> {"loss_box", "loss_cls"}``.
    Eval: ``forward(features) -> [{"boxes" Tensor[D, 4] xyxy input pixels, "scores", "labels"}]``.

    Args:
        predictor: maps feature maps to ``(cls_logits [B, P, C], box_deltas [B, P, 4])``.
        priors: ``Tensor[P, 4]`` default boxes, xyxy input pixels (kept as a non-persistent buffer:
            they derive from the config, so checkpoints do not carry them).
        image_size: ``(H, W)`` of the network input.
        loss: a :class:`ssd.modeling.loss.DetectionLoss`; ``postprocess.activation`` must be its
            ``score_activation`` (the builder takes it from there).
        matcher: how priors are matched to ground truth (:mod:`ssd.modeling.matcher`).
    """

    def __init__(
        self,
        *,
        predictor: nn.Module,
        priors: Tensor,
        image_size: tuple[int, int],
        loss: Callable[..., dict[str, Tensor]],
        box_coder: BoxCoder = BoxCoder(),
        iou_threshold: float = 0.5,
        matcher: str = "argmax",
        postprocess: PostprocessSettings = PostprocessSettings(),
    ) -> None:
        super().__init__()
        if matcher not in MATCHERS:
            raise ValueError(f"matcher = {matcher!r}; expected one of {list(MATCHERS)}")
        self.predictor = predictor
        self.register_buffer("priors", priors, persistent=False)
        self.image_size = image_size
        self.loss = loss
        self.box_coder = box_coder
        self.iou_threshold = iou_threshold
        self.matcher = matcher
        self.postprocess = postprocess

    def forward(
        self, features: list[Tensor], targets: list[dict[str, Tensor]] | None = None
    ) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        cls_logits, box_deltas = self.predictor(features)
        if cls_logits.shape[1] != self.priors.shape[0]:
            raise ValueError(
                f"the predictor made {cls_logits.shape[1]} boxes but there are {self.priors.shape[0]} "
                f"default boxes: was the input {tuple(self.image_size)}?"
            )
        if self.training:
            if targets is None:
                raise ValueError("training mode needs targets; call model.eval() for detections")
            labels, deltas = build_targets(targets, self.priors, self.box_coder, self.iou_threshold, self.matcher)
            return self.loss(cls_logits, box_deltas, labels, deltas)
        p = self.postprocess
        return postprocess_detections(
            cls_logits,
            box_deltas,
            self.priors,
            box_coder=self.box_coder,
            image_size=self.image_size,
            score_threshold=p.score_threshold,
            nms_threshold=p.nms_threshold,
            topk_candidates=p.topk_candidates,
            max_detections=p.max_detections,
            activation=p.activation,
            clip_boxes=p.clip_boxes,
            clip_after_nms=p.clip_after_nms,
        )
