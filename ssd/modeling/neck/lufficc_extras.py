"""lufficc/SSD's MobileNetV2 extra layers: inverted-residual blocks (MobileNetV2 §3.3, without the
shortcut since each halves the resolution) instead of SSDLite's 1x1 -> depthwise -> 1x1 + ReLU6.

Each level is ``torchvision.models.mobilenetv2.InvertedResidual``: 1x1 expansion to the level's
``mid_channels`` + BN + ReLU6, 3x3 depthwise stride 2 + BN + ReLU6, 1x1 projection + BN, *linear*.
lufficc's levels (1280 ->) 512, 256, 256, 64 with expansion ratios 0.2, 0.25, 0.5, 0.25, i.e.
``mid_channels`` 256, 128, 128, 64. Its checkpoint's ``backbone.extras.N.conv.*`` are this
module's ``blocks.N.conv.*`` one to one.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn
from torchvision.models.mobilenetv2 import InvertedResidual

from ..registry import NECKS
from .extras import ExtraLevels, chain_levels


def _inverted_residual(prev: int, out: int, mid: int, stride: int, norm) -> nn.Module:
    # torchvision sizes the expansion as round(prev * ratio): give it the exact ratio
    return InvertedResidual(prev, out, stride, mid / prev, norm_layer=norm)


class InvertedResidualExtras(ExtraLevels):
    """``forward(list of backbone maps) -> backbone maps + one map per extra level``, each extra
    ``Tensor[B, out_channels[k], ceil(H / 2), ceil(W / 2)]`` of the one before (stride 2)."""

    def __init__(
        self,
        *,
        in_channels: Sequence[int],
        out_channels: Sequence[int],
        mid_channels: Sequence[int],
        strides: Sequence[int],
        norm_eps: float = 1e-5,
        norm_momentum: float = 0.1,
        init: str = "xavier",
    ) -> None:
        super().__init__()
        self.blocks = chain_levels(
            "inverted-residual", in_channels=in_channels[-1], out_channels=out_channels,
            mid_channels=mid_channels, strides=strides, make_block=_inverted_residual, norm_eps=norm_eps,
            norm_momentum=norm_momentum, init=init,
        )
        self.out_channels = list(in_channels) + list(out_channels)


@NECKS.register("lufficc_mnv2_extras")
def build_lufficc_mnv2_extras(cfg, in_channels: Sequence[int]) -> InvertedResidualExtras:
    neck = cfg.MODEL.NECK
    if any(k != 3 for k in neck.KERNEL_SIZES) or any(p != 1 for p in neck.PADDINGS):
        raise ValueError(
            f"lufficc_mnv2_extras blocks are 3x3 with padding 1: got MODEL.NECK.KERNEL_SIZES "
            f"{list(neck.KERNEL_SIZES)}, PADDINGS {list(neck.PADDINGS)}"
        )
    return InvertedResidualExtras(
        in_channels=in_channels,
        out_channels=neck.OUT_CHANNELS,
        mid_channels=neck.MID_CHANNELS,
        strides=neck.STRIDES,
        norm_eps=cfg.MODEL.NORM_EPS,
        norm_momentum=cfg.MODEL.NORM_MOMENTUM,
        init=cfg.MODEL.INIT,
    )
