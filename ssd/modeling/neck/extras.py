"""The SSD extra feature layers (Liu et al. 2016, §2.1 "Multi-scale feature maps for detection").

Each extra level is a 1x1 bottleneck followed by a strided spatial conv. The SSDLite form
(MobileNetV2 §6.2, MobileNetV3 §6.3) is the same layout with a depthwise spatial conv between two
1x1 convs, BatchNorm and ReLU6: a flag here, not a second copy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from torch import Tensor, nn
from torchvision.ops import Conv2dNormActivation

from ..init import init_conv_weights
from ..registry import NECKS

_ACTIVATIONS = {"relu": nn.ReLU, "relu6": nn.ReLU6}


class ExtraLevels(nn.Module):
    """Base of necks that append ``self.blocks`` levels, each fed by the previous map:
    ``forward(list of backbone maps) -> backbone maps + one map per block``. With
    ``neck_input_only`` the backbone's last map feeds the blocks only and is not a head level."""

    blocks: nn.ModuleList
    neck_input_only: bool = False

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        outputs = list(features[:-1]) if self.neck_input_only else list(features)
        x = features[-1]
        for block in self.blocks:
            x = block(x)
            outputs.append(x)
        return outputs


def chain_levels(
    kind: str,
    *,
    in_channels: int,
    out_channels: Sequence[int],
    mid_channels: Sequence[int],
    strides: Sequence[int],
    make_block: Callable[..., nn.Module],
    norm_eps: float,
    norm_momentum: float,
    init: str,
) -> nn.ModuleList:
    """One block per extra level, each fed by the one before (the first by ``in_channels``):
    ``make_block(in, out, mid, stride, norm)`` with ``norm`` the BatchNorm2d factory; initialised
    as ``init`` says. Raises ``ValueError`` naming ``kind`` when the per-level lists differ in length."""
    if not (len(out_channels) == len(mid_channels) == len(strides)):
        raise ValueError(
            f"{kind} extras need one entry per level: out_channels {list(out_channels)}, "
            f"mid_channels {list(mid_channels)}, strides {list(strides)}"
        )
    norm = partial(nn.BatchNorm2d, eps=norm_eps, momentum=norm_momentum)
    blocks, prev = [], in_channels
    for out, mid, s in zip(out_channels, mid_channels, strides, strict=True):
        blocks.append(make_block(prev, out, mid, s, norm))
        prev = out
    levels = nn.ModuleList(blocks)
    init_conv_weights(levels, init)
    return levels


class SSDExtraLayers(ExtraLevels):
    """``forward(list of backbone maps) -> backbone maps + one map per extra level``.

    Args:
        in_channels: channels of the backbone's maps; extras start from the last one.
        out_channels / mid_channels / strides / paddings / kernel_sizes: per extra level
            (``mid_channels`` empty = half of ``out_channels``, torchvision's SSDLite rule).
        depthwise: SSDLite blocks (1x1 -> depthwise kxk -> 1x1, each BN + ReLU6).
        use_bn: BatchNorm + ReLU in plain SSD blocks (VGG's have ReLU only, with conv biases).
        activation: of the plain SSD blocks, ``"relu"`` or ``"relu6"`` (TF's ssd_mobilenet_v2);
            SSDLite blocks always use ReLU6.
        init: ``"xavier"`` (Caffe SSD) or ``"normal"`` (N(0, 0.03), torchvision SSDLite).
    """

    def __init__(
        self,
        *,
        in_channels: Sequence[int],
        out_channels: Sequence[int],
        mid_channels: Sequence[int] = (),
        strides: Sequence[int],
        paddings: Sequence[int],
        kernel_sizes: Sequence[int],
        depthwise: bool = False,
        use_bn: bool = False,
        activation: str = "relu",
        norm_eps: float = 1e-5,
        norm_momentum: float = 0.1,
        init: str = "xavier",
    ) -> None:
        super().__init__()
        n = len(out_channels)
        mids = list(mid_channels) or [c // 2 for c in out_channels]
        if not (len(mids) == len(strides) == len(paddings) == len(kernel_sizes) == n):
            raise ValueError(
                f"extra layers need one entry per level: out_channels {list(out_channels)}, mid_channels "
                f"{mids}, strides {list(strides)}, paddings {list(paddings)}, kernel_sizes {list(kernel_sizes)}"
            )
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation = {activation!r}; expected one of {sorted(_ACTIVATIONS)}")
        act = _ACTIVATIONS[activation]
        norm = partial(nn.BatchNorm2d, eps=norm_eps, momentum=norm_momentum)
        blocks = []
        prev = in_channels[-1]
        for out, mid, s, p, k in zip(out_channels, mids, strides, paddings, kernel_sizes, strict=True):
            if depthwise:
                block = nn.Sequential(
                    Conv2dNormActivation(prev, mid, 1, norm_layer=norm, activation_layer=nn.ReLU6),
                    Conv2dNormActivation(mid, mid, k, stride=s, padding=p, groups=mid,
                                         norm_layer=norm, activation_layer=nn.ReLU6),
                    Conv2dNormActivation(mid, out, 1, norm_layer=norm, activation_layer=nn.ReLU6),
                )
            elif use_bn:
                block = nn.Sequential(
                    Conv2dNormActivation(prev, mid, 1, norm_layer=norm, activation_layer=act),
                    Conv2dNormActivation(mid, out, k, stride=s, padding=p, norm_layer=norm, activation_layer=act),
                )
            else:
                block = nn.Sequential(
                    nn.Conv2d(prev, mid, 1), act(inplace=True),
                    nn.Conv2d(mid, out, k, stride=s, padding=p), act(inplace=True),
                )
            blocks.append(block)
            prev = out
        self.blocks = nn.ModuleList(blocks)
        init_conv_weights(self.blocks, init)
        self.out_channels = list(in_channels) + list(out_channels)


def _build(cfg, in_channels: Sequence[int], depthwise: bool) -> SSDExtraLayers:
    neck = cfg.MODEL.NECK
    return SSDExtraLayers(
        in_channels=in_channels,
        out_channels=neck.OUT_CHANNELS,
        mid_channels=neck.MID_CHANNELS,
        strides=neck.STRIDES,
        paddings=neck.PADDINGS,
        kernel_sizes=neck.KERNEL_SIZES,
        depthwise=depthwise,
        use_bn=neck.USE_BN,
        activation=neck.ACTIVATION,
        norm_eps=cfg.MODEL.NORM_EPS,
        norm_momentum=cfg.MODEL.NORM_MOMENTUM,
        init=cfg.MODEL.INIT,
    )


@NECKS.register("ssd_extras")
def build_ssd_extras(cfg, in_channels: Sequence[int]) -> SSDExtraLayers:
    return _build(cfg, in_channels, depthwise=False)


@NECKS.register("ssdlite_extras")
def build_ssdlite_extras(cfg, in_channels: Sequence[int]) -> SSDExtraLayers:
    return _build(cfg, in_channels, depthwise=True)
