"""lufficc/SSD's SSDLite predictor (its ``SSDLiteBoxPredictor``), so its MobileNetV2 checkpoint
loads: every level but the last uses lufficc's ``SeperableConv2d`` = 3x3 depthwise conv *with
bias* + BN + ReLU6 + 1x1 conv; the last level a plain 1x1 conv. (Our ``ssdlite`` predictor has no
depthwise bias and a separable head on every level, as torchvision's and the paper's.)

Correspondence with lufficc's checkpoint: ``box_head.predictor.cls_headers.N.conv.K`` and
``reg_headers.N.conv.K`` = ``cls_heads.N.K`` / ``reg_heads.N.K`` (K = 0 depthwise, 1 BN, 3 the 1x1;
2 is the ReLU6); the last level's ``cls_headers.L`` = ``cls_heads.L``. Layout of the outputs as in
:mod:`ssd.modeling.head.predictor`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import torch
from torch import Tensor, nn

from ..init import init_conv_weights
from ..registry import PREDICTORS


class LufficcLitePredictor(nn.Module):
    """``forward([Tensor[B, C_k, H_k, W_k]]) -> (cls_logits Tensor[B, P, num_classes],
    box_deltas Tensor[B, P, 4])``, priors ordered level, row, column, box.

    Args:
        in_channels: channels of each level's feature map.
        boxes_per_location: default boxes per cell on each level.
        num_classes: classes including background (column 0).
        init: ``"xavier"`` (lufficc) or ``"normal"``.
        cls_bias_prior: initialise class biases to ``-log((1 - p) / p)`` (focal loss).
    """

    def __init__(
        self,
        *,
        in_channels: Sequence[int],
        boxes_per_location: Sequence[int],
        num_classes: int,
        norm_eps: float = 1e-5,
        norm_momentum: float = 0.1,
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
        last = len(in_channels) - 1

        def head(level: int, channels: int, outputs: int) -> nn.Module:
            if level == last:
                return nn.Conv2d(channels, outputs, kernel_size=1)
            return nn.Sequential(
                nn.Conv2d(channels, channels, 3, padding=1, groups=channels),
                norm(channels),
                nn.ReLU6(inplace=True),
                nn.Conv2d(channels, outputs, kernel_size=1),
            )

        self.num_classes = num_classes
        levels = list(enumerate(zip(in_channels, boxes_per_location, strict=True)))
        self.cls_heads = nn.ModuleList(head(k, c, a * num_classes) for k, (c, a) in levels)
        self.reg_heads = nn.ModuleList(head(k, c, a * 4) for k, (c, a) in levels)
        init_conv_weights(self, init)
        if cls_bias_prior is not None:
            bias = -math.log((1 - cls_bias_prior) / cls_bias_prior)
            for h in self.cls_heads:
                nn.init.constant_((h if isinstance(h, nn.Conv2d) else h[-1]).bias, bias)

    def forward(self, features: list[Tensor]) -> tuple[Tensor, Tensor]:
        if len(features) != len(self.cls_heads):
            raise ValueError(f"predictor built for {len(self.cls_heads)} levels, got {len(features)} maps")

        def flat(x: Tensor, k: int) -> Tensor:  # [B, A*k, H, W] -> [B, H*W*A, k]
            return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, k)

        cls = [flat(h(x), self.num_classes) for h, x in zip(self.cls_heads, features, strict=True)]
        reg = [flat(h(x), 4) for h, x in zip(self.reg_heads, features, strict=True)]
        return torch.cat(cls, dim=1), torch.cat(reg, dim=1)


@PREDICTORS.register("lufficc_ssdlite")
def build_lufficc_ssdlite_predictor(
    cfg, *, in_channels, boxes_per_location, num_classes
) -> LufficcLitePredictor:
    return LufficcLitePredictor(
        in_channels=in_channels,
        boxes_per_location=boxes_per_location,
        num_classes=num_classes,
        norm_eps=cfg.MODEL.NORM_EPS,
        norm_momentum=cfg.MODEL.NORM_MOMENTUM,
        init=cfg.MODEL.INIT,
        cls_bias_prior=cfg.MODEL.FOCAL_PRIOR if cfg.MODEL.BOX_HEAD.LOSS == "focal" else None,
    )
