"""lufficc/SSD's SSDLite predictor (its ``SSDLiteBoxPredictor``), so its MobileNetV2 checkpoint
loads: every level but the last uses lufficc's ``SeperableConv2d`` = 3x3 depthwise conv *with
bias* + BN + ReLU6 + 1x1 conv; the last level a plain 1x1 conv. (Our ``ssdlite`` predictor has no
depthwise bias and a separable head on every level, as torchvision's and the paper's.)

Correspondence with lufficc's checkpoint: ``box_head.predictor.cls_headers.N.conv.K`` and
``reg_headers.N.conv.K`` = ``cls_heads.N.K`` / ``reg_heads.N.K`` (K = 0 depthwise, 1 BN, 3 the 1x1;
2 is the ReLU6); the last level's ``cls_headers.L`` = ``cls_heads.L``. Flattening, initialisation
and forward are :class:`ssd.modeling.head.box_predictor.BoxPredictor`'s; only the heads differ.
"""

from __future__ import annotations

from functools import partial

from torch import nn

from ..registry import PREDICTORS
from .box_predictor import BoxPredictor, HeadFactory, build_box_predictor


def lufficc_separable_heads(*, num_levels: int, norm_eps: float = 1e-5, norm_momentum: float = 0.1) -> HeadFactory:
    """lufficc's ``SSDLiteBoxPredictor`` heads for ``num_levels`` levels: its ``SeperableConv2d``
    (3x3 depthwise conv with bias + BN + ReLU6 + 1x1 conv) on every level but the last, a plain 1x1
    conv there."""
    norm = partial(nn.BatchNorm2d, eps=norm_eps, momentum=norm_momentum)

    def make(level: int, channels: int, outputs: int) -> nn.Module:
        if level == num_levels - 1:
            return nn.Conv2d(channels, outputs, kernel_size=1)
        return nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels),
            norm(channels),
            nn.ReLU6(inplace=True),
            nn.Conv2d(channels, outputs, kernel_size=1),
        )

    return make


@PREDICTORS.register("lufficc_ssdlite")
def build_lufficc_ssdlite_predictor(
    cfg, *, in_channels, boxes_per_location, num_classes, cls_bias_prior
) -> BoxPredictor:
    heads = lufficc_separable_heads(
        num_levels=len(in_channels),
        norm_eps=cfg.MODEL.NORM_EPS,
        norm_momentum=cfg.MODEL.NORM_MOMENTUM,
    )
    return build_box_predictor(cfg, heads, in_channels=in_channels, boxes_per_location=boxes_per_location,
                               num_classes=num_classes, cls_bias_prior=cls_bias_prior)
