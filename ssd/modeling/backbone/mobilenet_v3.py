"""MobileNetV3 feature taps for SSDLite (Howard et al. 2019, §6.3 "Detection").

Built from ``torchvision.models.mobilenet_v3_large`` / ``_small`` (parameter names ``features.N`` are
torchvision's, so its ImageNet weights load as they are). The first head level taps the 1x1
expansion conv of the last stride-2 block (C4: 672 channels for Large, 288 for Small, stride 16);
the second is the end of the network (C5, stride 32: 960 / 576, or 480 / 288 with the reduced tail
that halves the last stage, §6.3).
"""

from __future__ import annotations

from functools import partial

from torch import Tensor, nn
from torchvision.models import mobilenet_v3_large, mobilenet_v3_small
from torchvision.ops import Conv2dNormActivation

from ..registry import BACKBONES
from ..weights import load_backbone_weights
from .taps import drop_classifier

_ARCHS = {"large": mobilenet_v3_large, "small": mobilenet_v3_small}


def _depthwise_stride(block: nn.Module) -> int:
    """Stride of the depthwise conv of an inverted-residual block (1 if it has none)."""
    for m in block.modules():
        if isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels:
            return m.stride[0]
    return 1


class MobileNetV3Backbone(nn.Module):
    """``forward(Tensor[B, 3, H, W]) -> [C4 expansion Tensor[B, c4, H/16, W/16],
    C5 Tensor[B, c5, H/32, W/32]]``."""

    def __init__(
        self,
        *,
        arch: str = "large",
        width_mult: float = 1.0,
        reduced_tail: bool = False,
        norm_eps: float = 1e-3,
        norm_momentum: float = 0.03,
    ) -> None:
        super().__init__()
        if arch not in _ARCHS:
            raise ValueError(f"arch = {arch!r}; expected one of {sorted(_ARCHS)}")
        norm_layer = partial(nn.BatchNorm2d, eps=norm_eps, momentum=norm_momentum)
        self.features = _ARCHS[arch](
            weights=None, width_mult=width_mult, reduced_tail=reduced_tail, norm_layer=norm_layer
        ).features
        # C4 = the last block that halves the resolution (16 -> 32); tap after its expansion conv.
        strided = [i for i, b in enumerate(self.features) if i > 0 and _depthwise_stride(b) == 2]
        self.c4_index = strided[-1]
        c4_block = self.features[self.c4_index]
        expansion = c4_block.block[0]
        if c4_block.use_res_connect or not isinstance(expansion, Conv2dNormActivation):
            raise ValueError(f"block {self.c4_index} of MobileNetV3-{arch} has no expansion conv to tap")
        self.out_channels = [expansion.out_channels, self.features[-1].out_channels]
        self.strides = [16, 32]

    def forward(self, x: Tensor) -> list[Tensor]:
        for layer in self.features[: self.c4_index]:
            x = layer(x)
        c4_block = self.features[self.c4_index].block
        c4 = c4_block[0](x)
        x = c4_block[1:](c4)
        for layer in self.features[self.c4_index + 1 :]:
            x = layer(x)
        return [c4, x]

    adapt_pretrained = staticmethod(drop_classifier)  # torchvision classification weights


def _build(cfg, arch: str) -> MobileNetV3Backbone:
    b = cfg.MODEL.BACKBONE
    backbone = MobileNetV3Backbone(
        arch=arch,
        width_mult=b.WIDTH_MULT,
        reduced_tail=b.REDUCED_TAIL,
        norm_eps=b.NORM_EPS,
        norm_momentum=b.NORM_MOMENTUM,
    )
    load_backbone_weights(backbone, b.WEIGHTS)
    return backbone


@BACKBONES.register("mobilenet_v3_large")
def build_mobilenet_v3_large(cfg) -> MobileNetV3Backbone:
    return _build(cfg, "large")


@BACKBONES.register("mobilenet_v3_small")
def build_mobilenet_v3_small(cfg) -> MobileNetV3Backbone:
    return _build(cfg, "small")
