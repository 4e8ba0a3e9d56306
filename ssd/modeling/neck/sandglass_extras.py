"""houqb/ssdlite-pytorch-mobilenext's extra layers for MobileNeXt (its ``sg_block_extra``):
depthwise-first sandglass blocks instead of SSDLite's 1x1 -> depthwise -> 1x1.

Each level: 3x3 depthwise, stride 2, + BN + ReLU6 on the wide input; 1x1 reduce to
``mid_channels`` + BN (linear); 1x1 expand to ``out_channels`` + BN + ReLU6; no shortcut (each
halves the resolution). The authors' levels (1280 ->) 512, 256, 256, 128 with hidden widths
``int(C_in * ratio)`` for ratios 0.2, 0.25, 0.5, 0.5: 256, 128, 128, 128.

With a backbone whose last map feeds the neck only (:attr:`Backbone.neck_input_only`, houqb's
MobileNeXt), the extras start from that map and it is not passed on as a head level.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn
from torchvision.ops import Conv2dNormActivation

from ..registry import NECKS
from .extras import ExtraLevels, chain_levels


def _sandglass(prev: int, out: int, mid: int, stride: int, norm) -> nn.Module:
    """houqb's sg_block_extra: depthwise 3x3 + BN + ReLU6, 1x1 reduce + BN (linear), 1x1 expand + BN + ReLU6."""
    return nn.Sequential(
        Conv2dNormActivation(prev, prev, 3, stride=stride, groups=prev, norm_layer=norm, activation_layer=nn.ReLU6),
        Conv2dNormActivation(prev, mid, 1, norm_layer=norm, activation_layer=None),
        Conv2dNormActivation(mid, out, 1, norm_layer=norm, activation_layer=nn.ReLU6),
    )


class SandglassExtras(ExtraLevels):
    """``forward(list of backbone maps) -> head maps``: the backbone's maps (without the last one
    when ``neck_input_only``) and one map per extra level, each
    ``Tensor[B, out_channels[k], ceil(H / s), ceil(W / s)]`` of the one before.

    Args:
        in_channels: channels of the backbone's maps; extras start from the last one.
        out_channels / mid_channels / strides: per extra level.
        neck_input_only: the backbone's last map is the extras' input, not a head level.
        norm_eps / norm_momentum: BatchNorm settings; init: ``"xavier"`` or ``"normal"``.
    """

    def __init__(
        self,
        *,
        in_channels: Sequence[int],
        out_channels: Sequence[int],
        mid_channels: Sequence[int],
        strides: Sequence[int],
        neck_input_only: bool = False,
        norm_eps: float = 1e-5,
        norm_momentum: float = 0.1,
        init: str = "xavier",
    ) -> None:
        super().__init__()
        self.blocks = chain_levels(
            "sandglass", in_channels=in_channels[-1], out_channels=out_channels, mid_channels=mid_channels,
            strides=strides, make_block=_sandglass, norm_eps=norm_eps, norm_momentum=norm_momentum, init=init,
        )
        self.neck_input_only = neck_input_only
        heads = list(in_channels[:-1]) if neck_input_only else list(in_channels)
        self.out_channels = heads + list(out_channels)


@NECKS.register("sandglass_extras")
def build_sandglass_extras(cfg, in_channels: Sequence[int]) -> SandglassExtras:
    neck = cfg.MODEL.NECK
    return SandglassExtras(
        in_channels=in_channels,
        out_channels=neck.OUT_CHANNELS,
        mid_channels=neck.MID_CHANNELS,
        strides=neck.STRIDES,
        neck_input_only=cfg.MODEL.BACKBONE.LAST_TAP == "before_linear",
        norm_eps=cfg.MODEL.NORM_EPS,
        norm_momentum=cfg.MODEL.NORM_MOMENTUM,
        init=cfg.MODEL.INIT,
    )
