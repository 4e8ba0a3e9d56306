"""Box predictors: per level, a class-score head and a box-offset head (Liu et al. 2016, §2.1
"Convolutional predictors for detection").

``forward(features) -> (cls_logits Tensor[B, P, C], box_deltas Tensor[B, P, 4])`` with priors ordered
level, row, column, box — the order of :func:`ssd.modeling.anchors.default_boxes`. Channel ``a * K + k``
of a level's last conv is value ``k`` of box ``a`` (Caffe, lufficc and torchvision lay it out alike).

One :class:`BoxPredictor` does the flattening, the initialisation and the forward for every head
shape; a *head factory* says what a level's head is: :func:`conv3x3_heads` (SSD),
:func:`separable_heads` (SSDLite) or lufficc's form (:mod:`ssd.modeling.head.lufficc`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import torch
from torch import Tensor, nn
from torchvision.ops import Conv2dNormActivation

from ..init import init_conv_weights
from ..registry import PREDICTORS

HeadFactory = Callable[[int, int, int], nn.Module]
"""``(level, in_channels, out_channels) -> nn.Module`` mapping ``Tensor[B, in, H, W]`` to
``Tensor[B, out, H, W]``; its last ``nn.Conv2d`` (in ``modules()`` order) gives the outputs."""


def conv3x3_heads(level: int, channels: int, outputs: int) -> nn.Module:
    """SSD's predictor: one 3x3 conv (paper §2.1)."""
    return nn.Conv2d(channels, outputs, kernel_size=3, padding=1)


def separable_heads(*, norm_eps: float = 1e-3, norm_momentum: float = 0.03) -> HeadFactory:
    """SSDLite's predictor (MobileNetV2 §6.2, torchvision's ``SSDLiteHead``): 3x3 depthwise conv
    (no bias) + BN + ReLU6, then a 1x1 conv, on every level."""
    norm = partial(nn.BatchNorm2d, eps=norm_eps, momentum=norm_momentum)

    def make(level: int, channels: int, outputs: int) -> nn.Module:
        return nn.Sequential(
            Conv2dNormActivation(channels, channels, 3, groups=channels, norm_layer=norm, activation_layer=nn.ReLU6),
            nn.Conv2d(channels, outputs, kernel_size=1),
        )

    return make


def _flatten(x: Tensor, values_per_box: int) -> Tensor:
    """``Tensor[B, A*K, H, W]`` -> ``Tensor[B, H*W*A, K]``."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, values_per_box)


def _convs(module: nn.Module) -> list[nn.Conv2d]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


class BoxPredictor(nn.Module):
    """Per-level class and box heads made by ``make_head``.

    Args:
        in_channels: channels of each level's feature map.
        boxes_per_location: default boxes per cell on each level.
        num_classes: classes including background (column 0).
        make_head: what one level's head is (:data:`HeadFactory`).
        init: ``"xavier"`` or ``"normal"`` for every conv (see :func:`ssd.modeling.init.init_conv_weights`).
        cls_bias_prior: the loss's foreground prior ``p`` (:class:`ssd.modeling.loss.DetectionLoss`):
            class biases start at ``-log((1 - p) / p)`` (Lin et al. 2017 §3.3); ``None``: zero.
        cls_init_std: ``0``: the class heads follow ``init`` and the prior goes on each one's last
            conv. ``> 0``: every conv of the class heads is re-drawn from N(0, std) and every class-head
            conv bias starts at the prior (houqb/ssdlite-pytorch-mobilenext, box_predictor.py,
            ``initialize_prior``: 0.01).
    """

    def __init__(
        self,
        *,
        in_channels: Sequence[int],
        boxes_per_location: Sequence[int],
        num_classes: int,
        make_head: HeadFactory = conv3x3_heads,
        init: str = "xavier",
        cls_bias_prior: float | None = None,
        cls_init_std: float = 0.0,
    ) -> None:
        super().__init__()
        if len(in_channels) != len(boxes_per_location):
            raise ValueError(
                f"{len(in_channels)} feature levels (channels {list(in_channels)}) but boxes per "
                f"location for {len(boxes_per_location)} levels ({list(boxes_per_location)})"
            )
        if cls_bias_prior is not None and not 0.0 < cls_bias_prior < 1.0:
            raise ValueError(f"cls_bias_prior = {cls_bias_prior}: a probability in (0, 1) is needed")
        if cls_init_std < 0:
            raise ValueError(f"cls_init_std = {cls_init_std}: must be >= 0 (0 = follow init)")
        self.num_classes = num_classes
        self.boxes_per_location = [int(a) for a in boxes_per_location]
        levels = list(enumerate(zip(in_channels, boxes_per_location, strict=True)))
        self.cls_heads = nn.ModuleList(make_head(k, c, a * num_classes) for k, (c, a) in levels)
        self.reg_heads = nn.ModuleList(make_head(k, c, a * 4) for k, (c, a) in levels)
        init_conv_weights(self, init)
        bias = None if cls_bias_prior is None else -math.log((1 - cls_bias_prior) / cls_bias_prior)
        for h in self.cls_heads:
            convs = _convs(h)
            if cls_init_std > 0:
                for conv in convs:
                    nn.init.normal_(conv.weight, mean=0.0, std=cls_init_std)
                    if conv.bias is not None and bias is not None:
                        nn.init.constant_(conv.bias, bias)
            elif bias is not None:
                nn.init.constant_(convs[-1].bias, bias)

    def per_class_parameters(self) -> dict[str, int]:
        """``{parameter name: boxes per location}`` of every tensor laid out per class: the weight
        and bias of each level's last class conv, whose output channel ``a * K + k`` is class ``k``
        of box ``a`` (``K = num_classes``). What a transfer to another class list rebuilds
        (:mod:`ssd.modeling.head.class_transfer`); every other tensor is independent of ``K``."""
        found = {}
        for level, (head, boxes) in enumerate(zip(self.cls_heads, self.boxes_per_location, strict=True)):
            names = [n for n, m in head.named_modules() if isinstance(m, nn.Conv2d)]
            last = f"cls_heads.{level}" + (f".{names[-1]}" if names[-1] else "")
            found[f"{last}.weight"] = boxes
            if _convs(head)[-1].bias is not None:
                found[f"{last}.bias"] = boxes
        return found

    def forward(self, features: list[Tensor]) -> tuple[Tensor, Tensor]:
        if len(features) != len(self.cls_heads):
            raise ValueError(f"predictor built for {len(self.cls_heads)} levels, got {len(features)} maps")
        cls = [_flatten(h(x), self.num_classes) for h, x in zip(self.cls_heads, features, strict=True)]
        reg = [_flatten(h(x), 4) for h, x in zip(self.reg_heads, features, strict=True)]
        return torch.cat(cls, dim=1), torch.cat(reg, dim=1)


def build_box_predictor(
    cfg, make_head: HeadFactory, *, in_channels, boxes_per_location, num_classes, cls_bias_prior
) -> BoxPredictor:
    """The config keys every registered predictor shares (``MODEL.INIT`` / ``MODEL.BOX_HEAD.CLS_INIT_STD``)."""
    return BoxPredictor(
        in_channels=in_channels,
        boxes_per_location=boxes_per_location,
        num_classes=num_classes,
        make_head=make_head,
        init=cfg.MODEL.INIT,
        cls_bias_prior=cls_bias_prior,
        cls_init_std=cfg.MODEL.BOX_HEAD.CLS_INIT_STD,
    )


@PREDICTORS.register("ssd")
def build_ssd_predictor(cfg, *, in_channels, boxes_per_location, num_classes, cls_bias_prior) -> BoxPredictor:
    return build_box_predictor(cfg, conv3x3_heads, in_channels=in_channels, boxes_per_location=boxes_per_location,
                               num_classes=num_classes, cls_bias_prior=cls_bias_prior)


@PREDICTORS.register("ssdlite")
def build_ssdlite_predictor(cfg, *, in_channels, boxes_per_location, num_classes, cls_bias_prior) -> BoxPredictor:
    heads = separable_heads(norm_eps=cfg.MODEL.NORM_EPS, norm_momentum=cfg.MODEL.NORM_MOMENTUM)
    return build_box_predictor(cfg, heads, in_channels=in_channels, boxes_per_location=boxes_per_location,
                               num_classes=num_classes, cls_bias_prior=cls_bias_prior)
