"""MobileNetV2 feature taps for SSDLite (Sandler et al. 2018, §6.2 "Object Detection").

Built from ``torchvision.models.mobilenet_v2().features`` (parameter names ``features.N`` are
torchvision's, so its ImageNet weights load as they are). Two tap layouts (``MODEL.BACKBONE.VARIANT``):

- ``"paper"`` (the paper and the TF object-detection API's ssdlite_mobilenet_v2): the first head
  level is the 1x1 expansion of layer 15 (``features[14]``, the first block of the 160-channel
  stage: 96 x 6 = 576 channels at stride 16, before its strided depthwise conv), the second the
  final 1280-channel conv (stride 32).
- ``"lufficc"`` (lufficc/SSD ``mobilenet_v2``): the output of ``features[13]`` (96 channels,
  stride 16) and the final conv (1280, stride 32).

``out_strides`` may ask for more maps (e.g. ``[8, 16, 32]`` for an FPN): the stride-8 map of the
paper layout is the expansion of ``features[7]`` (192 channels), of the lufficc layout the output of
``features[6]`` (32 channels).

Correspondence with lufficc's checkpoint ``mobilenet_v2_ssd320_voc0712``: its
``backbone.features.N.*`` are this module's ``features.N.*`` one to one (torchvision and lufficc
build the same blocks in the same order: ``features.0`` stem, ``features.1-17`` inverted residuals
with ``conv.*``, ``features.18`` the 1x1 conv to 1280); its ``backbone.extras.*`` are the
``lufficc_mnv2_extras`` neck and its ``box_head.predictor.*`` the ``lufficc_ssdlite`` predictor.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from torch import nn
from torchvision.models import mobilenet_v2

from ..registry import BACKBONES
from .taps import TappedBackbone

# Where each variant taps (see the module docstring).
VARIANT_TAP_MODES = {"paper": "expansion", "lufficc": "output"}


class MobileNetV2Backbone(TappedBackbone):
    """``forward(Tensor[B, 3, H, W]) -> [Tensor[B, out_channels[k], H / strides[k], W / strides[k]]]``
    (sizes rounded up), by default ``[576 @ H/16, 1280 @ H/32]`` (paper) or ``[96, 1280]`` (lufficc).

    Args:
        variant: ``"paper"`` or ``"lufficc"`` tap layout.
        out_strides: output strides of the returned maps, ascending, each in 8, 16, 32.
        width_mult: torchvision's channel multiplier.
        norm_eps / norm_momentum: BatchNorm settings (SSDLite: 1e-3 / 0.03).
    """

    def __init__(
        self,
        *,
        variant: str = "paper",
        out_strides: Sequence[int] = (16, 32),
        width_mult: float = 1.0,
        norm_eps: float = 1e-5,
        norm_momentum: float = 0.1,
    ) -> None:
        if variant not in VARIANT_TAP_MODES:
            raise ValueError(
                f"MobileNetV2 variant = {variant!r}; expected one of {sorted(VARIANT_TAP_MODES)}"
            )
        norm_layer = partial(nn.BatchNorm2d, eps=norm_eps, momentum=norm_momentum)
        features = mobilenet_v2(weights=None, width_mult=width_mult, norm_layer=norm_layer).features
        super().__init__(features=features, out_strides=out_strides, mode=VARIANT_TAP_MODES[variant])


@BACKBONES.register("mobilenet_v2")
def build_mobilenet_v2(cfg) -> MobileNetV2Backbone:
    b = cfg.MODEL.BACKBONE
    return MobileNetV2Backbone(
        variant=b.VARIANT,
        out_strides=list(b.OUT_STRIDES) or [16, 32],
        width_mult=b.WIDTH_MULT,
        norm_eps=cfg.MODEL.NORM_EPS,
        norm_momentum=cfg.MODEL.NORM_MOMENTUM,
    )
