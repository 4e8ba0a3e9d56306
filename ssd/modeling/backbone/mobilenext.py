"""MobileNeXt (Zhou et al., ECCV 2020, "Rethinking Bottleneck Structure for Efficient Mobile
Network Design") and its feature taps for SSDLite.

The sandglass block (§3.2, Fig. 3(b), Table 1) flips the inverted residual: the residual path joins
the *high-dimensional* ends and the spatial (depthwise) convs work there too::

    x (C_in) -> depthwise 3x3 + BN + ReLU6 -> 1x1 reduce to C_in / t + BN (linear)
             -> 1x1 expand to C_out + BN + ReLU6 -> depthwise 3x3, stride s, + BN (linear) -> (+ x)

with the identity shortcut when ``s == 1`` and ``C_in == C_out``. The reduced width is
``C_in // t``, raised to ``ceil(C_out / 6)`` rounded to a multiple of 16 where smaller (a rule of
the authors' code, not stated in the paper). Stage layout: Table 2 at width 1.0.

Detection taps (§4.3, SSDLite): the 576-channel stage's first block at stride 16, after its 1x1
expansion and before its strided depthwise conv; and the end of the network (1280 channels,
stride 32). ``out_strides = [8, 16, 32]`` adds the 288-channel expansion at stride 8 (for an FPN).
The authors' detection code (houqb/ssdlite-pytorch-mobilenext) taps the stride-32 map one layer
earlier, before the last linear depthwise conv; we take the network's output.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

from torch import Tensor, nn
from torchvision.ops import Conv2dNormActivation

from ..registry import BACKBONES
from .taps import TappedBackbone

# Table 2, width 1.0: (reduction ratio t, output channels c, repeats n, stride of the first s).
MOBILENEXT_STAGES = (
    (2, 96, 1, 2),
    (6, 144, 1, 1),
    (6, 192, 3, 2),
    (6, 288, 3, 2),
    (6, 384, 4, 1),
    (6, 576, 4, 2),
    (6, 960, 3, 1),
    (6, 1280, 1, 1),
)
STEM_CHANNELS = 32


def make_divisible(value: float, divisor: int) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never more than 10 % down (the
    MobileNet family's channel rounding)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class SandGlassBlock(nn.Module):
    """``forward(Tensor[B, in_channels, H, W]) -> Tensor[B, out_channels, H / stride, W / stride]``
    (see the module docstring for the layers; ``conv`` holds them, in that order)."""

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        stride: int,
        reduction: int,
        norm_layer: Callable[..., nn.Module] = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"sandglass stride = {stride}; expected 1 or 2")
        hidden = in_channels // reduction
        if hidden < out_channels / 6:
            hidden = make_divisible(math.ceil(out_channels / 6), 16)
        self.conv = nn.Sequential(
            Conv2dNormActivation(in_channels, in_channels, 3, groups=in_channels,
                                 norm_layer=norm_layer, activation_layer=nn.ReLU6),
            Conv2dNormActivation(in_channels, hidden, 1, norm_layer=norm_layer, activation_layer=None),
            Conv2dNormActivation(hidden, out_channels, 1, norm_layer=norm_layer, activation_layer=nn.ReLU6),
            Conv2dNormActivation(out_channels, out_channels, 3, stride=stride, groups=out_channels,
                                 norm_layer=norm_layer, activation_layer=None),
        )
        self.use_res_connect = stride == 1 and in_channels == out_channels
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)
        return x + out if self.use_res_connect else out


def mobilenext_features(
    *, width_mult: float = 1.0, norm_layer: Callable[..., nn.Module] = nn.BatchNorm2d
) -> nn.Sequential:
    """Stem (3x3 stride-2 conv + BN + ReLU6) and the sandglass stages of Table 2."""
    prev = make_divisible(STEM_CHANNELS * width_mult, 8)
    layers: list[nn.Module] = [
        Conv2dNormActivation(3, prev, 3, stride=2, norm_layer=norm_layer, activation_layer=nn.ReLU6)
    ]
    for t, c, n, s in MOBILENEXT_STAGES:
        out = make_divisible(c * width_mult, 8)
        for i in range(n):
            layers.append(SandGlassBlock(in_channels=prev, out_channels=out, stride=s if i == 0 else 1,
                                         reduction=t, norm_layer=norm_layer))
            prev = out
    features = nn.Sequential(*layers)
    for m in features.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
    return features


class MobileNeXt(nn.Module):
    """The ImageNet classifier: ``Tensor[B, 3, H, W] -> Tensor[B, num_classes]`` logits."""

    def __init__(self, *, num_classes: int = 1000, width_mult: float = 1.0, dropout: float = 0.2) -> None:
        super().__init__()
        self.features = mobilenext_features(width_mult=width_mult)
        channels = self.features[-1].out_channels
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, num_classes))
        nn.init.normal_(self.classifier[1].weight, std=0.01)
        nn.init.zeros_(self.classifier[1].bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))


class MobileNeXtBackbone(TappedBackbone):
    """``forward(Tensor[B, 3, H, W]) -> [Tensor[B, out_channels[k], H / strides[k], W / strides[k]]]``
    (sizes rounded up), by default ``[576 @ H/16, 1280 @ H/32]``."""

    def __init__(
        self,
        *,
        out_strides: Sequence[int] = (16, 32),
        width_mult: float = 1.0,
        norm_eps: float = 1e-5,
        norm_momentum: float = 0.1,
    ) -> None:
        norm_layer = partial(nn.BatchNorm2d, eps=norm_eps, momentum=norm_momentum)
        features = mobilenext_features(width_mult=width_mult, norm_layer=norm_layer)
        super().__init__(features=features, out_strides=out_strides, mode="expansion")


@BACKBONES.register("mobilenext")
def build_mobilenext(cfg) -> MobileNeXtBackbone:
    b = cfg.MODEL.BACKBONE
    if b.VARIANT != "paper":
        raise ValueError(f"MODEL.BACKBONE.VARIANT = {b.VARIANT!r}: MobileNeXt has only the 'paper' layout")
    return MobileNeXtBackbone(
        out_strides=list(b.OUT_STRIDES) or [16, 32],
        width_mult=b.WIDTH_MULT,
        norm_eps=cfg.MODEL.NORM_EPS,
        norm_momentum=cfg.MODEL.NORM_MOMENTUM,
    )
