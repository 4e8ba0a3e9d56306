"""An FPN neck for SSD / SSDLite: a feature pyramid (Lin et al. 2017, "Feature Pyramid Networks",
§3) over the backbone's maps, then stride-2 extra levels.

Our own design: the MobileNeXt paper (Zhou et al. 2020, §4.3) reports an SSDLite-FPN, but its
detection repository ships only a config (five 128-channel levels at 40, 20, 10, 5, 3 for 320 px),
no FPN code. Here:

- lateral 1x1 convs + BN to ``channels``, top-down nearest upsampling and addition:
  ``torchvision.ops.FeaturePyramidNetwork`` as it is;
- smoothing of each merged map: torchvision's dense 3x3 conv + BN (``depthwise=False``, RetinaNet
  style) or, for SSDLite, a depthwise-separable conv (3x3 depthwise + BN + ReLU6, 1x1 + BN + ReLU6),
  swapped into the pyramid's ``layer_blocks`` because torchvision's FPN takes no smoothing option;
- ``num_extra`` extra levels, each a stride-2 block of the same kind applied to the previous
  level, starting from the coarsest pyramid output (as RetinaNet's P6/P7 from P5, §4 of Lin et al.
  2017 "Focal Loss"); 10 -> 5 -> 3 for 320 px.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import partial

from torch import Tensor, nn
from torchvision.ops import Conv2dNormActivation, FeaturePyramidNetwork

from ..init import init_conv_weights
from ..registry import NECKS


def _smoothing(channels: int, stride: int, depthwise: bool, norm: Callable[..., nn.Module]) -> nn.Module:
    """A ``channels -> channels`` 3x3 block: depthwise-separable (ReLU6) or dense (ReLU only when
    strided, as torchvision's linear FPN smoothing and RetinaNet's P6/P7 do)."""
    if depthwise:
        return nn.Sequential(
            Conv2dNormActivation(channels, channels, 3, stride=stride, groups=channels,
                                 norm_layer=norm, activation_layer=nn.ReLU6),
            Conv2dNormActivation(channels, channels, 1, norm_layer=norm, activation_layer=nn.ReLU6),
        )
    activation = nn.ReLU if stride > 1 else None
    return Conv2dNormActivation(channels, channels, 3, stride=stride, norm_layer=norm,
                                activation_layer=activation)


class FPNNeck(nn.Module):
    """``forward([Tensor[B, in_channels[k], H_k, W_k]], finest first)`` ->
    ``[Tensor[B, channels, H_k, W_k]]`` for every input level, then ``num_extra`` maps each half
    the size (rounded up) of the one before.

    Args:
        in_channels: channels of the backbone's maps, finest first (e.g. strides 8, 16, 32).
        channels: channels of every output level.
        num_extra: stride-2 levels appended after the pyramid.
        depthwise: depthwise-separable smoothing and extras (SSDLite) instead of dense 3x3 convs.
        init: ``"xavier"`` or ``"normal"`` for every conv (see :mod:`ssd.modeling.init`).
    """

    def __init__(
        self,
        *,
        in_channels: Sequence[int],
        channels: int = 128,
        num_extra: int = 2,
        depthwise: bool = True,
        norm_eps: float = 1e-5,
        norm_momentum: float = 0.1,
        init: str = "normal",
    ) -> None:
        super().__init__()
        if len(in_channels) < 2:
            raise ValueError(f"an FPN needs at least 2 backbone maps, got channels {list(in_channels)}")
        if num_extra < 0:
            raise ValueError(f"FPN extra levels = {num_extra}; expected >= 0")
        norm = partial(nn.BatchNorm2d, eps=norm_eps, momentum=norm_momentum)
        self.fpn = FeaturePyramidNetwork(list(in_channels), channels, norm_layer=norm)
        if depthwise:
            for i in range(len(self.fpn.layer_blocks)):
                self.fpn.layer_blocks[i] = _smoothing(channels, 1, True, norm)
        self.extras = nn.ModuleList(_smoothing(channels, 2, depthwise, norm) for _ in range(num_extra))
        init_conv_weights(self, init)
        self.out_channels = [channels] * (len(in_channels) + num_extra)

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        named = OrderedDict((str(i), f) for i, f in enumerate(features))
        outputs = list(self.fpn(named).values())
        x = outputs[-1]
        for block in self.extras:
            x = block(x)
            outputs.append(x)
        return outputs


def _build(cfg, in_channels: Sequence[int], depthwise: bool) -> FPNNeck:
    neck = cfg.MODEL.NECK
    return FPNNeck(
        in_channels=in_channels,
        channels=neck.FPN_CHANNELS,
        num_extra=neck.FPN_NUM_EXTRA,
        depthwise=depthwise,
        norm_eps=cfg.MODEL.NORM_EPS,
        norm_momentum=cfg.MODEL.NORM_MOMENTUM,
        init=cfg.MODEL.INIT,
    )


@NECKS.register("fpn")
def build_fpn(cfg, in_channels: Sequence[int]) -> FPNNeck:
    return _build(cfg, in_channels, depthwise=False)


@NECKS.register("ssdlite_fpn")
def build_ssdlite_fpn(cfg, in_channels: Sequence[int]) -> FPNNeck:
    return _build(cfg, in_channels, depthwise=True)
