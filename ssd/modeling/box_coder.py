"""SSD box encoding (Liu et al. 2016, eq. 2; Caffe's CENTER_SIZE code with variances).

Ground truth and priors come in and boxes go out as ``xyxy`` pixels; the centre-size form and
the variances live only here. ``variances = (0.1, 0.2)`` equal torchvision's weights (10, 10, 5, 5).
``order`` says how the four values of a prediction are laid out: ``"xywh"`` (Caffe, lufficc,
torchvision) or ``"yxhw"`` (the TF object-detection API's ``FasterRcnnBoxCoder``: ``ty, tx, th, tw``
with scales 10, 10, 5, 5, i.e. the same variances).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

# Largest log-scale a decoded box may grow by (torchvision's bbox_xform_clip): keeps exp() finite
# for an untrained model without touching any sensible prediction.
_MAX_LOG_SCALE = math.log(1000.0 / 16)

# Where dx, dy, dw, dh sit in a prediction's four values, per layout.
BOX_ORDERS = {"xywh": (0, 1, 2, 3), "yxhw": (1, 0, 3, 2)}


def _centre_size(boxes: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    w = boxes[..., 2] - boxes[..., 0]
    h = boxes[..., 3] - boxes[..., 1]
    return boxes[..., 0] + 0.5 * w, boxes[..., 1] + 0.5 * h, w, h


@dataclass(frozen=True)
class BoxCoder:
    """Encodes boxes relative to priors and decodes them back."""

    center_variance: float = 0.1
    size_variance: float = 0.2
    order: str = "xywh"  # a key of BOX_ORDERS: the layout of the four regression values

    def __post_init__(self) -> None:
        if self.order not in BOX_ORDERS:
            raise ValueError(f"box order = {self.order!r}; expected one of {sorted(BOX_ORDERS)}")

    def encode(self, boxes: Tensor, priors: Tensor) -> Tensor:
        """``boxes``, ``priors``: ``Tensor[..., 4]`` xyxy pixels -> regression targets ``Tensor[..., 4]``
        ``((cx - pcx) / pw / cv, (cy - pcy) / ph / cv, log(w / pw) / sv, log(h / ph) / sv)``
        (in ``order``: ``"yxhw"`` swaps the first two and the last two)."""
        cx, cy, w, h = _centre_size(boxes)
        pcx, pcy, pw, ph = _centre_size(priors)
        values = [
            (cx - pcx) / pw / self.center_variance,
            (cy - pcy) / ph / self.center_variance,
            torch.log(w / pw) / self.size_variance,
            torch.log(h / ph) / self.size_variance,
        ]
        return torch.stack([values[i] for i in BOX_ORDERS[self.order]], dim=-1)

    def decode(self, deltas: Tensor, priors: Tensor) -> Tensor:
        """Inverse of :meth:`encode`: ``deltas`` ``Tensor[..., P, 4]`` and ``priors`` ``Tensor[P, 4]``
        (broadcast) -> ``Tensor[..., P, 4]`` xyxy pixels."""
        pcx, pcy, pw, ph = _centre_size(priors)
        ix, iy, iw, ih = BOX_ORDERS[self.order]
        cx = deltas[..., ix] * self.center_variance * pw + pcx
        cy = deltas[..., iy] * self.center_variance * ph + pcy
        w = torch.exp((deltas[..., iw] * self.size_variance).clamp(max=_MAX_LOG_SCALE)) * pw
        h = torch.exp((deltas[..., ih] * self.size_variance).clamp(max=_MAX_LOG_SCALE)) * ph
        return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)
