"""MobileNeXt (Zhou et al., ECCV 2020, "Rethinking Bottleneck Structure for Efficient Mobile
Network Design") and its feature taps for SSDLite, in two forms (``MODEL.BACKBONE.VARIANT``).

The sandglass block (§3.2, Fig. 3(b), Table 1) flips the inverted residual: the residual path joins
the *high-dimensional* ends and the spatial (depthwise) convs work there too::

    x (C_in) -> depthwise 3x3 + BN + ReLU6 -> 1x1 reduce to C_in / t + BN (linear)
             -> 1x1 expand to C_out + BN + ReLU6 -> depthwise 3x3, stride s, + BN (linear) -> (+ x)

with the identity shortcut when ``s == 1`` and ``C_in == C_out``. The reduced width is
``C_in // t``, raised to ``ceil(C_out / 6)`` rounded to a multiple of 16 where smaller (a rule of
the authors' code, not stated in the paper). Stage layout: Table 2 at width 1.0.

- ``"paper"``: every block as above.
- ``"houqb"``: the authors' code (houqb/ssdlite-pytorch-mobilenext, ``SGBlock``), whose ImageNet
  checkpoint ``mnext.pth.tar`` is the only MobileNeXt weights there are. The first block of a
  stage that changes the width has no leading depthwise conv (blocks 3, 6, 13: 1x1 reduce, 1x1
  expand, strided depthwise) or, at stride 1, no depthwise conv at all (blocks 9, 17); the first
  stage and the single-block stages (blocks 1, 2, 20) keep all four layers.

Detection taps (§4.3, SSDLite): the 576-channel stage's first block at stride 16, after its 1x1
expansion and before its strided depthwise conv; and, at stride 32, either the network's output
(``last_tap="output"``) or, as the authors' detector does, the 1280-channel map *before* the last
block's final linear depthwise conv (``last_tap="before_linear"``): the heads see that map while
the extra layers continue from the network's output, which the backbone then returns as one more
map for the neck only (``neck_input_only``). ``out_strides = [8, 16, 32]`` adds the 288-channel
expansion at stride 8 (for an FPN).

:meth:`MobileNeXtBackbone.adapt_pretrained` reads the authors' checkpoint: its blocks are flat
``nn.Sequential`` (``features.B.conv.K`` conv, BatchNorm and ReLU6 layers in turn), ours group
conv + BN in ``Conv2dNormActivation`` (``features.B.conv.J.0`` / ``.1``); the j-th conv and the
BatchNorm after it in a block are our layer ``J = j``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from functools import partial

from torch import Tensor, nn
from torchvision.ops import Conv2dNormActivation

from ...config.choices import LAST_TAPS
from ..registry import BACKBONES
from .base import ShapeSpec
from .taps import Tap, TappedBackbone, run_taps

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
VARIANTS = ("paper", "houqb")


def make_divisible(value: float, divisor: int) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never more than 10 % down (the
    MobileNet family's channel rounding)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class SandGlassBlock(nn.Module):
    """``forward(Tensor[B, in_channels, H, W]) -> Tensor[B, out_channels, H / stride, W / stride]``
    (see the module docstring for the layers; ``conv`` holds them, in that order).

    ``leading_depthwise`` / ``trailing_depthwise``: keep the first / last depthwise conv (the paper:
    both; the authors' code drops them in some blocks, see :func:`houqb_depthwise`). Without the
    trailing one the block cannot stride.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        stride: int,
        reduction: int,
        norm_layer: Callable[..., nn.Module] = nn.BatchNorm2d,
        leading_depthwise: bool = True,
        trailing_depthwise: bool = True,
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"sandglass stride = {stride}; expected 1 or 2")
        if stride != 1 and not trailing_depthwise:
            raise ValueError(
                f"sandglass block {in_channels} -> {out_channels}: stride {stride} needs the trailing depthwise conv"
            )
        hidden = in_channels // reduction
        if hidden < out_channels / 6:
            hidden = make_divisible(math.ceil(out_channels / 6), 16)
        layers: list[nn.Module] = []
        if leading_depthwise:
            layers.append(Conv2dNormActivation(in_channels, in_channels, 3, groups=in_channels,
                                               norm_layer=norm_layer, activation_layer=nn.ReLU6))
        layers += [
            Conv2dNormActivation(in_channels, hidden, 1, norm_layer=norm_layer, activation_layer=None),
            Conv2dNormActivation(hidden, out_channels, 1, norm_layer=norm_layer, activation_layer=nn.ReLU6),
        ]
        if trailing_depthwise:
            layers.append(Conv2dNormActivation(out_channels, out_channels, 3, stride=stride, groups=out_channels,
                                               norm_layer=norm_layer, activation_layer=None))
        self.conv = nn.Sequential(*layers)
        self.use_res_connect = stride == 1 and in_channels == out_channels
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)
        return x + out if self.use_res_connect else out


def houqb_depthwise(*, reduction: int, in_channels: int, out_channels: int, stride: int,
                    first: bool, repeats: int) -> tuple[bool, bool]:
    """``(leading, trailing)`` depthwise convs of a block in the authors' code (``SGBlock``): all
    of the first stage (``t == 2``) and of single-block stride-1 stages (its ``keep_3x3``); a
    stage's first block that changes the width keeps only the strided trailing one, or none at
    stride 1; every other block both."""
    if reduction == 2 or not first or in_channels == out_channels or (repeats == 1 and stride == 1):
        return True, True
    return False, stride == 2


def mobilenext_features(
    *, width_mult: float = 1.0, norm_layer: Callable[..., nn.Module] = nn.BatchNorm2d, variant: str = "paper"
) -> nn.Sequential:
    """Stem (3x3 stride-2 conv + BN + ReLU6) and the sandglass stages of Table 2, in the
    ``variant``'s block form (module docstring); convs He-initialised (fan out) as the authors'."""
    if variant not in VARIANTS:
        raise ValueError(f"MobileNeXt variant = {variant!r}; expected one of {list(VARIANTS)}")
    prev = make_divisible(STEM_CHANNELS * width_mult, 8)
    layers: list[nn.Module] = [
        Conv2dNormActivation(3, prev, 3, stride=2, norm_layer=norm_layer, activation_layer=nn.ReLU6)
    ]
    for t, c, n, s in MOBILENEXT_STAGES:
        out = make_divisible(c * width_mult, 8)
        for i in range(n):
            stride = s if i == 0 else 1
            leading, trailing = True, True
            if variant == "houqb":
                leading, trailing = houqb_depthwise(reduction=t, in_channels=prev, out_channels=out,
                                                    stride=stride, first=i == 0, repeats=n)
            layers.append(SandGlassBlock(in_channels=prev, out_channels=out, stride=stride, reduction=t,
                                         norm_layer=norm_layer, leading_depthwise=leading,
                                         trailing_depthwise=trailing))
            prev = out
    features = nn.Sequential(*layers)
    for m in features.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
    return features


class MobileNeXt(nn.Module):
    """The ImageNet classifier: ``Tensor[B, 3, H, W] -> Tensor[B, num_classes]`` logits."""

    def __init__(self, *, num_classes: int = 1000, width_mult: float = 1.0, dropout: float = 0.2,
                 variant: str = "paper") -> None:
        super().__init__()
        self.features = mobilenext_features(width_mult=width_mult, variant=variant)
        channels = self.features[-1].out_channels
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, num_classes))
        nn.init.normal_(self.classifier[1].weight, std=0.01)
        nn.init.zeros_(self.classifier[1].bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))


# a flat layer of the authors' checkpoint: features.<block>.conv.<layer>.<tensor>
_FLAT_KEY = re.compile(r"^features\.(\d+)\.conv\.(\d+)\.(weight|bias|running_mean|running_var|num_batches_tracked)$")


def adapt_houqb_state_dict(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """The authors' MobileNeXt checkpoint (``mnext.pth.tar``, flat ``features.B.conv.K.*``) in this
    module's names (``features.B.conv.J.0.*`` conv, ``features.B.conv.J.1.*`` its BatchNorm): in
    each block the j-th conv and the BatchNorm after it become layer ``J = j``. The stem
    (``features.0.0`` / ``.1``) is named alike in both; a ``module.`` prefix (DataParallel) is
    dropped; keys outside ``features`` (the classifier) are left out."""
    state = {k.removeprefix("module."): v for k, v in state_dict.items()}
    flat: dict[int, dict[int, dict[str, Tensor]]] = {}
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        m = _FLAT_KEY.match(key)
        if m:
            flat.setdefault(int(m[1]), {}).setdefault(int(m[2]), {})[m[3]] = value
        elif key.startswith("features."):
            out[key] = value
    for block, layers in flat.items():
        j, pending_conv = -1, False
        for index in sorted(layers):
            tensors = layers[index]
            is_norm = "running_mean" in tensors
            if not is_norm:  # a conv: starts our next layer
                j, pending_conv = j + 1, True
            elif not pending_conv:
                raise ValueError(
                    f"MobileNeXt checkpoint: features.{block}.conv.{index} is a BatchNorm without a conv before it"
                )
            else:
                pending_conv = False
            for name, value in tensors.items():
                out[f"features.{block}.conv.{j}.{1 if is_norm else 0}.{name}"] = value
    return out


class MobileNeXtBackbone(TappedBackbone):
    """``forward(Tensor[B, 3, H, W]) -> [Tensor[B, out_channels[k], H / strides[k], W / strides[k]]]``
    (sizes rounded up), by default ``[576 @ H/16, 1280 @ H/32]``; with ``last_tap="before_linear"``
    a third map, the network's output (1280 @ H/32), follows for the neck only.

    Args:
        variant: ``"paper"`` or ``"houqb"`` block form (module docstring).
        out_strides: output strides of the head maps, ascending.
        last_tap: ``"output"`` or ``"before_linear"`` (module docstring).
        width_mult, norm_eps, norm_momentum: channel multiplier and BatchNorm settings
            (the authors' code: PyTorch's defaults 1e-5 / 0.1).
    """

    def __init__(
        self,
        *,
        variant: str = "paper",
        out_strides: Sequence[int] = (16, 32),
        last_tap: str = "output",
        width_mult: float = 1.0,
        norm_eps: float = 1e-5,
        norm_momentum: float = 0.1,
    ) -> None:
        if last_tap not in LAST_TAPS:
            raise ValueError(f"MobileNeXt last_tap = {last_tap!r}; expected one of {list(LAST_TAPS)}")
        norm_layer = partial(nn.BatchNorm2d, eps=norm_eps, momentum=norm_momentum)
        features = mobilenext_features(width_mult=width_mult, norm_layer=norm_layer, variant=variant)
        super().__init__(features=features, out_strides=out_strides, mode="expansion")
        self.variant = variant
        self.neck_input_only = last_tap == "before_linear"
        if self.neck_input_only:
            last = self.taps[-1]
            body = features[last.block].conv
            if last.block != len(features) - 1 or len(body) != 4:
                raise ValueError("last_tap='before_linear' needs the stride-32 map at the network's last "
                                 f"four-layer block; the plan taps block {last.block}")
            # before the last block's final linear depthwise conv (layer 3)
            self.taps[-1] = Tap(last.block, 3, body[2][0].out_channels, last.stride)

    def output_shape(self) -> list[ShapeSpec]:
        shapes = super().output_shape()
        if self.neck_input_only:
            shapes.append(ShapeSpec(self.features[-1].out_channels, shapes[-1].stride))
        return shapes

    def forward(self, x: Tensor) -> list[Tensor]:
        if not self.neck_input_only:
            return super().forward(x)
        return run_taps(self.features, self.taps, x, body=self.tap_body, append_output=True)

    def adapt_pretrained(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """The authors' checkpoint (:func:`adapt_houqb_state_dict`) or a classifier of this module's
        own names (``classifier.*`` dropped)."""
        return adapt_houqb_state_dict(state_dict)


@BACKBONES.register("mobilenext")
def build_mobilenext(cfg) -> MobileNeXtBackbone:
    b = cfg.MODEL.BACKBONE
    return MobileNeXtBackbone(
        variant=b.VARIANT,
        out_strides=list(b.OUT_STRIDES) or [16, 32],
        last_tap=b.LAST_TAP,
        width_mult=b.WIDTH_MULT,
        norm_eps=cfg.MODEL.NORM_EPS,
        norm_momentum=cfg.MODEL.NORM_MOMENTUM,
    )
