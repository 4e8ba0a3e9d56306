"""Box predictors: per level, a class-score conv and a box-offset conv (Liu et al. 2016, §2.1
"Convolutional predictors for detection").

``forward(features) -> (cls_logits Tensor[B, P, C], box_deltas Tensor[B, P, 4])`` with priors ordered
level, row, column, box — the order of :func:`ssd.modeling.anchors.default_boxes`. Channel ``a * K + k``
of a level's conv is value ``k`` of box ``a`` (Caffe, lufficc and torchvision lay it out alike).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import torch
from torch import Tensor, nn
from torchvision.ops import Conv2dNormActivation

from ..init import init_conv_weights
from ..registry import PREDICTORS


def _flatten(x: Tensor, values_per_box: int) -> Tensor:
    """``Tensor[B, A*K, H, W]`` -> ``Tensor[B, H*W*A, K]``."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, values_per_box)


class BoxPredictor(nn.Module):
    """SSD (3x3 conv) or SSDLite (3x3 depthwise + BN + ReLU6, then 1x1 conv; MobileNetV2 §6.2) heads.

    Args:
        in_channels: channels of each level's feature map.
        boxes_per_location: default boxes per cell on each level.
        num_classes: classes including background (column 0).
        lite: SSDLite heads.
        init: ``"xavier"`` or ``"normal"`` (see :func:`ssd.modeling.init.init_conv_weights`).
        cls_bias_prior: initialise class biases to ``-log((1 - p) / p)`` (focal loss, Lin et al. §3.3).
    """

    def __init__(
        self,
        *,
        in_channels: Sequence[int],
        boxes_per_location: Sequence[int],
        num_classes: int,
        lite: bool = False,
        norm_eps: float = 1e-3,
        norm_momentum: float = 0.03,
        init: str = "xavier",
        cls_bias_prior: float | None = None,
    ) -> None:
        super().__init__()
        if len(in_channels) != len(boxes_per_location):
            raise ValueError(
                f"{len(in_channels)} feature levels (channels {list(in_channels)}) but boxes per "
                f"location for {len(boxes_per_location)} levels ({list(boxes_per_location)})"
            )
        norm = partial(nn.BatchNorm2d, eps=norm_eps, momentum=norm_momentum)

        def head(channels: int, outputs: int) -> nn.Module:
            if not lite:
                return nn.Conv2d(channels, outputs, kernel_size=3, padding=1)
            return nn.Sequential(
                Conv2dNormActivation(channels, channels, 3, groups=channels,
                                     norm_layer=norm, activation_layer=nn.ReLU6),
                nn.Conv2d(channels, outputs, kernel_size=1),
            )

        self.num_classes = num_classes
        pairs = list(zip(in_channels, boxes_per_location, strict=True))
        self.cls_heads = nn.ModuleList(head(c, a * num_classes) for c, a in pairs)
        self.reg_heads = nn.ModuleList(head(c, a * 4) for c, a in pairs)
        init_conv_weights(self, init)
        if cls_bias_prior is not None:
            bias = -math.log((1 - cls_bias_prior) / cls_bias_prior)
            for h in self.cls_heads:
                last = h if isinstance(h, nn.Conv2d) else h[-1]
                nn.init.constant_(last.bias, bias)

    def forward(self, features: list[Tensor]) -> tuple[Tensor, Tensor]:
        if len(features) != len(self.cls_heads):
            raise ValueError(f"predictor built for {len(self.cls_heads)} levels, got {len(features)} maps")
        cls = [_flatten(h(x), self.num_classes) for h, x in zip(self.cls_heads, features, strict=True)]
        reg = [_flatten(h(x), 4) for h, x in zip(self.reg_heads, features, strict=True)]
        return torch.cat(cls, dim=1), torch.cat(reg, dim=1)


def _build(cfg, *, in_channels, boxes_per_location, num_classes, lite: bool) -> BoxPredictor:
    focal = cfg.MODEL.BOX_HEAD.LOSS == "focal"
    return BoxPredictor(
        in_channels=in_channels,
        boxes_per_location=boxes_per_location,
        num_classes=num_classes,
        lite=lite,
        norm_eps=cfg.MODEL.NORM_EPS,
        norm_momentum=cfg.MODEL.NORM_MOMENTUM,
        init=cfg.MODEL.INIT,
        cls_bias_prior=cfg.MODEL.FOCAL_PRIOR if focal else None,
    )


@PREDICTORS.register("ssd")
def build_ssd_predictor(cfg, *, in_channels, boxes_per_location, num_classes) -> BoxPredictor:
    return _build(cfg, in_channels=in_channels, boxes_per_location=boxes_per_location,
                  num_classes=num_classes, lite=False)


@PREDICTORS.register("ssdlite")
def build_ssdlite_predictor(cfg, *, in_channels, boxes_per_location, num_classes) -> BoxPredictor:
    return _build(cfg, in_channels=in_channels, boxes_per_location=boxes_per_location,
                  num_classes=num_classes, lite=True)
