"""TensorFlow's ``SAME`` padding for strided convolutions.

PyTorch pads symmetrically: a 3x3 stride-2 conv with ``padding=1`` on a 300-pixel map reads pixels
``-1..299`` and gives 150 outputs. TensorFlow's ``SAME`` gives the same 150 outputs but pads only
what it needs, ``max((ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)`` pixels, the odd one at the
end (bottom / right): on 300 pixels it reads ``0..300``, so every output sits half a stride away
from PyTorch's. Weights trained in TensorFlow (the object-detection API, lufficc's
EfficientNet, which copies TF's ``Conv2dStaticSamePadding``) need this to give their activations.

Stride-1 convs with odd kernels pad ``(k - 1) / 2 * d`` on both sides in either framework, so only
strided convs change. ``MODEL.BACKBONE.PADDING`` / ``MODEL.NECK.PADDING = "tf_same"`` turn it on
for each part (TF graphs need both; lufficc's EfficientNet only the backbone: its extra layers are
PyTorch convs).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from ..config.choices import PADDING_MODES  # noqa: F401  (the owner of the choice)


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """``(before, after)`` pixels TensorFlow's ``SAME`` pads on an axis of ``size`` pixels."""
    total = max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class SamePadConv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters and state-dict keys) with TensorFlow's ``SAME`` padding,
    computed from each input's size: ``Tensor[B, C, H, W] -> Tensor[B, C', ceil(H / s), ceil(W / s)]``."""

    def forward(self, x: Tensor) -> Tensor:
        top, bottom = same_padding(x.shape[-2], self.kernel_size[0], self.stride[0], self.dilation[0])
        left, right = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1], self.dilation[1])
        if top or bottom or left or right:
            x = F.pad(x, [left, right, top, bottom])
        return self._conv_forward(x, self.weight, self.bias)


def _same_intent(conv: nn.Conv2d) -> bool:
    """A strided conv whose symmetric padding is ``(k - 1) / 2 * d``, i.e. meant as "same" (a
    ``padding=0`` conv is meant as VALID and stays)."""
    if not isinstance(conv.padding, tuple) or max(conv.stride) == 1:
        return False
    return all(p == (k - 1) // 2 * d for p, k, d in zip(conv.padding, conv.kernel_size, conv.dilation, strict=True))


def use_tf_same_padding(module: nn.Module) -> int:
    """Turn every strided "same"-padded ``nn.Conv2d`` in ``module`` into a :class:`SamePadConv2d`
    in place (its parameters are kept, not copied). Returns how many convs changed."""
    changed = 0
    for conv in module.modules():
        if type(conv) is nn.Conv2d and _same_intent(conv):
            conv.__class__ = SamePadConv2d
            conv.padding = (0, 0)
            changed += 1
    return changed
