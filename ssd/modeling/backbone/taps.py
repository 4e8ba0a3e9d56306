"""Feature taps of chain-of-blocks classifiers (MobileNetV2, MobileNetV3, MobileNeXt, EfficientNet).

Such a network is a ``features`` ``nn.Sequential`` of blocks, each keeping or halving the
resolution. A detector takes maps at chosen output strides, in one of two places:

- ``"output"``: the output of the last block at that stride (lufficc/SSD, EfficientDet);
- ``"expansion"``: inside the block that halves the resolution *after* that stride, the
  high-dimensional activation just before its strided depthwise conv (MobileNetV2 §6.2: "the first
  layer of SSDLite is attached to the expansion of layer 15"). The network's last stride has no such
  block and is tapped at the network's output.

A tap plan is derived from the modules themselves (conv strides and channels), so channels and
strides are declared by the network, never copied by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor, nn

from .base import Backbone, ShapeSpec

TAP_MODES = ("output", "expansion")


@dataclass(frozen=True)
class Tap:
    """Where one map is taken: after ``features[block]``, or inside it after ``body[:split]``."""

    block: int
    split: int | None
    channels: int
    stride: int


def _convs(module: nn.Module) -> list[nn.Conv2d]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


def block_stride(module: nn.Module) -> int:
    """How much a block reduces the resolution: the product of its convs' strides."""
    return math.prod(c.stride[0] for c in _convs(module))


def out_channels_of(module: nn.Module) -> int:
    """Channels a block outputs: those of its last conv outside squeeze-excitation branches
    (whose convs come before the block's projection in ``modules()`` order anyway)."""
    convs = _convs(module)
    if not convs:
        raise ValueError(f"{type(module).__name__} has no conv to read its output channels from")
    return convs[-1].out_channels


def _strided_child(body: nn.Sequential) -> int:
    """Index of the first child of ``body`` that halves the resolution."""
    for j, child in enumerate(body):
        if block_stride(child) > 1:
            return j
    raise ValueError(f"no strided layer in {type(body).__name__} of {len(body)} layers")


def plan_taps(
    features: nn.Sequential, strides: Sequence[int], *, mode: str, body: str = "conv"
) -> list[Tap]:
    """Tap plan giving one map per requested output stride (ascending).

    Args:
        features: the network's blocks, in order.
        strides: output strides wanted, e.g. ``[16, 32]`` or ``[8, 16, 32]``.
        mode: ``"output"`` or ``"expansion"`` (see the module docstring).
        body: attribute of a block holding its ``nn.Sequential`` of layers (``"expansion"`` only).
    """
    if mode not in TAP_MODES:
        raise ValueError(f"tap mode = {mode!r}; expected one of {TAP_MODES}")
    if list(strides) != sorted(set(strides)) or not strides:
        raise ValueError(f"output strides must be ascending and distinct, got {list(strides)}")
    after, total = [], 1
    for block in features:
        total *= block_stride(block)
        after.append(total)
    if strides[-1] > after[-1]:
        raise ValueError(f"output strides {list(strides)} reach beyond the network's stride {after[-1]}")

    taps = []
    for s in strides:
        if s not in after:
            raise ValueError(
                f"the network has no stride-{s} map; its blocks reach strides {sorted(set(after))}"
            )
        last = max(i for i, a in enumerate(after) if a == s)
        if mode == "output" or last == len(features) - 1:
            taps.append(Tap(last, None, out_channels_of(features[last]), s))
            continue
        block = features[last + 1]  # the block that takes stride s to 2s
        layers = getattr(block, body, None)
        if not isinstance(layers, nn.Sequential):
            raise ValueError(
                f"block {last + 1} ({type(block).__name__}) has no nn.Sequential '{body}' to tap"
            )
        if getattr(block, "use_res_connect", False):
            raise ValueError(f"block {last + 1} has a residual connection: it cannot be tapped inside")
        split = _strided_child(layers)
        if split == 0:
            raise ValueError(f"block {last + 1} starts with its strided layer: nothing to tap before it")
        taps.append(Tap(last + 1, split, out_channels_of(layers[:split]), s))
    return taps


def run_taps(
    features: nn.Sequential, taps: Sequence[Tap], x: Tensor, *, body: str = "conv", append_output: bool = False
) -> list[Tensor]:
    """Run ``features`` on ``x`` up to the last tap; return the tapped maps in plan order, followed
    by the output of the last tapped block when ``append_output``."""
    inside = {t.block: t.split for t in taps if t.split is not None}
    after = {t.block for t in taps if t.split is None}
    end = max(t.block for t in taps)
    outputs = []
    for i, block in enumerate(features[: end + 1]):
        if i in inside:
            layers = getattr(block, body)
            x = layers[: inside[i]](x)
            outputs.append(x)
            x = layers[inside[i] :](x)
        else:
            x = block(x)
        if i in after:
            outputs.append(x)
    if append_output:
        outputs.append(x)
    return outputs


def drop_classifier(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """torchvision classification weights without the classifier: the ``features.*`` a backbone keeps."""
    return {k: v for k, v in state_dict.items() if not k.startswith("classifier.")}


class TappedBackbone(Backbone):
    """A chain-of-blocks ``features`` with a tap plan derived from its modules:
    ``forward(Tensor[B, 3, H, W]) -> [Tensor[B, out_channels[k], H / strides[k], W / strides[k]]]``.

    Subclasses build their network and pass it to this constructor: the features, the strides
    wanted and the tap mode are required arguments, so no instance exists without its tap plan.

    Args:
        features: the network's blocks, in order (kept as ``self.features``: torchvision's names).
        out_strides: output strides of the returned maps, ascending.
        mode: ``"output"`` or ``"expansion"`` (see the module docstring).
        body: attribute of a block holding its layers, for ``"expansion"`` taps (torchvision's
            MobileNetV2 and MobileNeXt: ``conv``; MobileNetV3: ``block``).
    """

    def __init__(self, *, features: nn.Sequential, out_strides: Sequence[int], mode: str, body: str = "conv") -> None:
        super().__init__()
        self.features = features
        self.tap_body = body
        self.taps = plan_taps(features, list(out_strides), mode=mode, body=body)

    def output_shape(self) -> list[ShapeSpec]:
        return [ShapeSpec(t.channels, t.stride) for t in self.taps]

    def forward(self, x: Tensor) -> list[Tensor]:
        return run_taps(self.features, self.taps, x, body=self.tap_body)

    def adapt_pretrained(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """torchvision classification weights: the ``features.*`` (classifier dropped)."""
        return drop_classifier(state_dict)
