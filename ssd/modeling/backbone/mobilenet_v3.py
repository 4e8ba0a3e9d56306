"""MobileNetV3 feature taps for SSDLite (Howard et al. 2019, §6.3 "Detection").

Built from ``torchvision.models.mobilenet_v3_large`` / ``_small`` (parameter names ``features.N`` are
torchvision's, so its ImageNet weights load as they are), tapped by the shared plan of
:mod:`.taps` in ``"expansion"`` mode over each block's ``block`` layers: the first head level is the
1x1 expansion conv of the last stride-2 block (C4: 672 channels for Large, 288 for Small, stride
16), the second the end of the network (C5, stride 32: 960 / 576, or 480 / 288 with the reduced
tail that halves the last stage, §6.3).

torchvision builds the reduced tail only when no ImageNet weights are loaded
(``ssdlite320_mobilenet_v3_large``: ``reduce_tail = weights_backbone is None``): the classifier
weights are for the full tail, so a config that loads them must say ``REDUCED_TAIL: False``
(otherwise the last stage stays untrained and loading fails).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from torch import nn
from torchvision.models import mobilenet_v3_large, mobilenet_v3_small

from ..registry import BACKBONES
from .taps import TappedBackbone

_ARCHS = {"large": mobilenet_v3_large, "small": mobilenet_v3_small}


class MobileNetV3Backbone(TappedBackbone):
    """``forward(Tensor[B, 3, H, W]) -> [C4 expansion Tensor[B, c4, H/16, W/16],
    C5 Tensor[B, c5, H/32, W/32]]`` (sizes rounded up).

    Args:
        arch: ``"large"`` or ``"small"``.
        out_strides: output strides of the returned maps (default C4 and C5).
        width_mult: torchvision's channel multiplier.
        reduced_tail: halve the channels of the last stage (§6.3; only without ImageNet weights).
        norm_eps / norm_momentum: BatchNorm settings (SSDLite: 1e-3 / 0.03).
    """

    def __init__(
        self,
        *,
        arch: str = "large",
        out_strides: Sequence[int] = (16, 32),
        width_mult: float = 1.0,
        reduced_tail: bool = False,
        norm_eps: float = 1e-3,
        norm_momentum: float = 0.03,
    ) -> None:
        if arch not in _ARCHS:
            raise ValueError(f"arch = {arch!r}; expected one of {sorted(_ARCHS)}")
        norm_layer = partial(nn.BatchNorm2d, eps=norm_eps, momentum=norm_momentum)
        features = _ARCHS[arch](
            weights=None, width_mult=width_mult, reduced_tail=reduced_tail, norm_layer=norm_layer
        ).features
        super().__init__(features=features, out_strides=out_strides, mode="expansion", body="block")


def _build(cfg, arch: str) -> MobileNetV3Backbone:
    b = cfg.MODEL.BACKBONE
    return MobileNetV3Backbone(
        arch=arch,
        out_strides=list(b.OUT_STRIDES) or [16, 32],
        width_mult=b.WIDTH_MULT,
        reduced_tail=b.REDUCED_TAIL,
        norm_eps=cfg.MODEL.NORM_EPS,
        norm_momentum=cfg.MODEL.NORM_MOMENTUM,
    )


@BACKBONES.register("mobilenet_v3_large")
def build_mobilenet_v3_large(cfg) -> MobileNetV3Backbone:
    return _build(cfg, "large")


@BACKBONES.register("mobilenet_v3_small")
def build_mobilenet_v3_small(cfg) -> MobileNetV3Backbone:
    return _build(cfg, "small")
