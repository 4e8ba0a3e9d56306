"""Default boxes (priors) of SSD, following the Caffe construction (Liu et al. 2016, §2.2).

Level ``k`` has scale ``s_k`` and, per feature-map cell, one box of side ``s_k``, one extra box of
side ``sqrt(s_k * s_{k+1})`` and, for every aspect ratio ``r``, the pair ``(s_k sqrt(r), s_k / sqrt(r))``
and its transpose. Per cell the order is therefore ``[s_k, s'_k, r_1, 1/r_1, r_2, 1/r_2, ...]``, cells
in row-major order, levels in order — the order of Caffe, lufficc/SSD and torchvision alike.

Everything returned is ``xyxy`` in pixels of the network input (the framework's one convention);
normalised centre-size forms exist only inside these functions and the box coder.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ..config.choices import CLIP_MODES


def linear_scales(num_levels: int, min_ratio: float, max_ratio: float) -> list[float]:
    """Scales ``s_0..s_m`` (``m = num_levels``) of the SSD paper's eq. 4, spread evenly from
    ``min_ratio`` to ``max_ratio``, plus ``s_m = 1.0`` for the last level's extra box (torchvision)."""
    if num_levels == 1:
        return [min_ratio, max_ratio]
    step = (max_ratio - min_ratio) / (num_levels - 1)
    return [min_ratio + step * k for k in range(num_levels)] + [1.0]


def caffe_scales(num_levels: int, min_ratio: float, max_ratio: float, first_ratio: float) -> list[float]:
    """Scales of weiliu89/caffe's ``ssd_pascal.py``: level 0 gets the smaller ``first_ratio`` (conv4_3
    needs smaller boxes), levels 1.. span ``min_ratio..max_ratio`` in whole-percent steps of
    ``floor((max - min) / (m - 2))``. SSD300 VOC (0.1, 0.2, 0.9) gives 30, 60, 111, 162, 213, 264, 315 px;
    COCO (0.07, 0.15, 0.9) gives torchvision's [0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05]."""
    if num_levels < 3:
        raise ValueError(f"the Caffe scale rule needs at least 3 levels, got {num_levels}")
    min_pct, max_pct = round(min_ratio * 100), round(max_ratio * 100)
    step = (max_pct - min_pct) // (num_levels - 2)
    return [first_ratio] + [(min_pct + step * k) / 100 for k in range(num_levels)]


def boxes_per_location(aspect_ratios: Sequence[Sequence[float]]) -> list[int]:
    """Boxes per feature-map cell on each level: the two square boxes plus two per aspect ratio."""
    return [2 + 2 * len(ratios) for ratios in aspect_ratios]


def default_boxes(
    *,
    feature_sizes: Sequence[tuple[int, int]],
    image_size: tuple[int, int],
    min_sizes: Sequence[float],
    max_sizes: Sequence[float],
    aspect_ratios: Sequence[Sequence[float]],
    steps: Sequence[float] | None = None,
    clip: str = "wh",
    offset: float = 0.5,
) -> Tensor:
    """All default boxes of an SSD model.

    Args:
        feature_sizes: ``(h, w)`` of each level's feature map.
        image_size: ``(H, W)`` of the network input in pixels.
        min_sizes / max_sizes: box side ``s_k`` and ``s_{k+1}`` of each level, in input pixels.
        aspect_ratios: ratios ``r`` per level (``1/r`` is added automatically).
        steps: cell size in pixels per level (Caffe "steps"); ``None`` = input size / map size.
        clip: ``"wh"`` clamps widths and heights to the image (torchvision), ``"cxcywh"`` clamps
            centres and sizes (lufficc), ``"xyxy"`` clamps the corners (Caffe), ``"none"``.
        offset: centre offset inside a cell, in cells.

    Returns:
        ``Tensor[P, 4]`` float32, xyxy in input pixels, ordered level, row, column, box.
    """
    n = len(feature_sizes)
    lengths = {"min_sizes": len(min_sizes), "max_sizes": len(max_sizes), "aspect_ratios": len(aspect_ratios)}
    if steps is not None:
        lengths["steps"] = len(steps)
    if any(v != n for v in lengths.values()):
        raise ValueError(f"{n} feature maps but per-level lists of lengths {lengths}")
    if clip not in CLIP_MODES:
        raise ValueError(f"clip = {clip!r}; expected one of {CLIP_MODES}")
    img_h, img_w = image_size
    levels = []
    for k, (fh, fw) in enumerate(feature_sizes):
        # Cell centres, normalised to [0, 1].
        cells_x, cells_y = (img_w / steps[k], img_h / steps[k]) if steps is not None else (fw, fh)
        cx = (torch.arange(fw, dtype=torch.float64) + offset) / cells_x
        cy = (torch.arange(fh, dtype=torch.float64) + offset) / cells_y
        cy, cx = torch.meshgrid(cy, cx, indexing="ij")
        centres = torch.stack([cx, cy], dim=-1).reshape(-1, 1, 2)  # [cells, 1, 2]

        # Box sides, normalised per axis (paper §2.2 "Choosing scales and aspect ratios").
        s_k, s_next = min_sizes[k], math.sqrt(min_sizes[k] * max_sizes[k])
        sides = [(s_k, s_k), (s_next, s_next)]
        for r in aspect_ratios[k]:
            sr = math.sqrt(r)
            sides += [(s_k * sr, s_k / sr), (s_k / sr, s_k * sr)]
        wh = torch.tensor(sides, dtype=torch.float64) / torch.tensor([img_w, img_h], dtype=torch.float64)
        if clip in ("wh", "cxcywh"):
            wh = wh.clamp(0.0, 1.0)
        if clip == "cxcywh":
            centres = centres.clamp(0.0, 1.0)
        wh = wh.unsqueeze(0).expand(centres.shape[0], -1, -1)  # [cells, A, 2]
        centres = centres.expand_as(wh)
        levels.append(torch.cat([centres - wh / 2, centres + wh / 2], dim=-1).reshape(-1, 4))

    boxes = torch.cat(levels)
    if clip == "xyxy":
        boxes = boxes.clamp(0.0, 1.0)
    scale = torch.tensor([img_w, img_h, img_w, img_h], dtype=torch.float64)
    return (boxes * scale).to(torch.float32)
