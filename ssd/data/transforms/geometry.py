"""Geometric draws of SSD training: expand, crop sampling, centre filtering. Pure numpy functions.

Boxes are float32 ``[N, 4]`` xyxy in pixels (see :mod:`ssd.data.boxes`) unless a name says
``norm`` (fractions of the current canvas, Caffe's ``NormalizedBBox``).
IoU is computed here in numpy rather than with ``torchvision.ops.box_iou``: the arrays are tiny
(50 trials x a few boxes) and the workers stay free of per-trial tensor overhead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (``[N, 4]`` xyxy) with every box of ``b`` (``[M, 4]``): ``[N, M]``."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def centers_inside(boxes: np.ndarray, crop: np.ndarray) -> np.ndarray:
    """``bool [N]``: the centre of each box lies in ``crop`` (borders included, Caffe's CENTER emit)."""
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    return (cx >= crop[0]) & (cx <= crop[2]) & (cy >= crop[1]) & (cy <= crop[3])


def crop_boxes(boxes: np.ndarray, crop: np.ndarray) -> np.ndarray:
    """Clip ``boxes`` to ``crop`` (xyxy) and express them relative to its top-left corner."""
    out = np.empty_like(boxes)
    out[:, 0::2] = np.clip(boxes[:, 0::2], crop[0], crop[2]) - crop[0]
    out[:, 1::2] = np.clip(boxes[:, 1::2], crop[1], crop[3]) - crop[1]
    return out


# ------------------------------------------------------------------------------- expand (zoom out)
@dataclass(frozen=True)
class Expansion:
    """A canvas of ``width x height`` with the image pasted at ``(left, top)``; ratio in [1, max]."""

    ratio: float
    width: int
    height: int
    left: int
    top: int


def draw_expansion(
    rng: np.random.Generator, *, width: int, height: int, max_ratio: float = 4.0, prob: float = 0.5
) -> Expansion:
    """Caffe's ``ExpandImage`` (ssd_pascal.py ``expand_param``: prob 0.5, max ratio 4).

    With probability ``1 - prob`` (or ``max_ratio == 1``) the identity expansion is returned.
    """
    u, ratio, fx, fy = rng.random(4)
    if u >= prob or max_ratio <= 1.0:
        return Expansion(1.0, width, height, 0, 0)
    ratio = 1.0 + ratio * (max_ratio - 1.0)
    canvas_w, canvas_h = int(width * ratio), int(height * ratio)
    return Expansion(
        ratio,
        canvas_w,
        canvas_h,
        int(np.floor(fx * (canvas_w - width))),
        int(np.floor(fy * (canvas_h - height))),
    )


# -------------------------------------------------------------------------- Caffe batch sampling
@dataclass(frozen=True)
class BatchSampler:
    """Caffe's ``BatchSampler``: a crop of side fraction ``scale`` and aspect ratio, with an IoU bound.

    A trial passes when at least one ground-truth box has ``min_iou <= IoU <= max_iou`` with it
    (bounds that are ``None`` are not checked; with no bound at all every trial passes).
    """

    min_scale: float = 1.0
    max_scale: float = 1.0
    min_aspect: float = 1.0
    max_aspect: float = 1.0
    min_iou: float | None = None
    max_iou: float | None = None
    max_trials: int = 1


def _iou_sampler(min_iou: float | None = None, max_iou: float | None = None) -> BatchSampler:
    return BatchSampler(0.3, 1.0, 0.5, 2.0, min_iou=min_iou, max_iou=max_iou, max_trials=50)


# weiliu89/caffe ssd branch, examples/ssd/ssd_pascal.py ``batch_sampler``: the whole image, five
# minimum-IoU samplers and one whose only constraint is max IoU 1.0. Every IoU is <= 1, so that last
# sampler accepts *any* crop as soon as the image has a box, even one that misses every box (and,
# after the expand, even one that misses the image: the sample is then pure mean and background).
# Caffe's SatisfySampleConstraint behaves the same; it only needs at least one ground-truth box.
CAFFE_SAMPLERS: tuple[BatchSampler, ...] = (
    BatchSampler(),
    _iou_sampler(0.1),
    _iou_sampler(0.3),
    _iou_sampler(0.5),
    _iou_sampler(0.7),
    _iou_sampler(0.9),
    _iou_sampler(max_iou=1.0),  # accepts any crop when the image has a box (see above)
)


def draw_sampler_crops(samplers: tuple[BatchSampler, ...], rng: np.random.Generator) -> np.ndarray:
    """Normalised trial crops ``[K, T, 4]`` of ``K`` samplers (``T`` = largest ``max_trials``), drawn
    like Caffe's ``SampleBBox``; trials beyond a sampler's own ``max_trials`` are to be ignored.

    scale ~ U(min, max) is a side fraction; aspect ~ U(min, max) clamped to [scale^2, 1/scale^2]
    so the crop stays inside the unit square; width = scale*sqrt(aspect), height = scale/sqrt(aspect).
    """
    t = max(s.max_trials for s in samplers)
    lo = np.array([[s.min_scale, s.min_aspect] for s in samplers])[:, :, None]
    hi = np.array([[s.max_scale, s.max_aspect] for s in samplers])[:, :, None]
    u = rng.random((4, len(samplers), t))
    scale = lo[:, 0] + u[0] * (hi[:, 0] - lo[:, 0])
    aspect = np.clip(lo[:, 1] + u[1] * (hi[:, 1] - lo[:, 1]), scale**2, 1.0 / scale**2)
    w, h = scale * np.sqrt(aspect), scale / np.sqrt(aspect)
    x1, y1 = u[2] * (1.0 - w), u[3] * (1.0 - h)
    return np.stack([x1, y1, x1 + w, y1 + h], axis=-1)


def sample_caffe_crop(
    boxes_norm: np.ndarray,
    rng: np.random.Generator,
    samplers: tuple[BatchSampler, ...] = CAFFE_SAMPLERS,
) -> tuple[int, np.ndarray]:
    """Caffe's ``GenerateBatchSamples`` then a uniform choice: ``(sampler index, crop [4] normalised)``.

    Each sampler keeps its first passing trial (``max_sample: 1``); one crop is chosen uniformly
    among the samplers that succeeded. Constrained samplers need at least one box, so an image
    without boxes always keeps the whole-image sample. All trials are drawn and tested at once.
    """
    crops = draw_sampler_crops(samplers, rng)  # [K, T, 4]
    k_count, t_count = crops.shape[:2]
    ok = np.arange(t_count)[None, :] < np.array([s.max_trials for s in samplers])[:, None]
    free = np.array([s.min_iou is None and s.max_iou is None for s in samplers])
    if len(boxes_norm):
        iou = iou_matrix(crops.reshape(-1, 4), boxes_norm).reshape(k_count, t_count, -1)
        lo = np.array([-np.inf if s.min_iou is None else s.min_iou for s in samplers])[:, None, None]
        hi = np.array([np.inf if s.max_iou is None else s.max_iou for s in samplers])[:, None, None]
        ok &= free[:, None] | ((iou >= lo) & (iou <= hi)).any(axis=2)
    else:
        ok &= free[:, None]
    succeeded = np.flatnonzero(ok.any(axis=1))
    if len(succeeded) == 0:
        return -1, np.array([0.0, 0.0, 1.0, 1.0])
    k = int(succeeded[int(rng.integers(len(succeeded)))])
    return k, crops[k, int(np.argmax(ok[k]))]


@dataclass(frozen=True)
class CaffeCrop:
    """Where one Caffe training sample comes from: expansion, chosen sampler, crop, kept boxes."""

    expansion: Expansion
    sampler: int  # index in the samplers (0 = the whole canvas)
    crop: np.ndarray  # float32 [4] xyxy on the expanded canvas, integer-valued (Caffe's CropImage)
    keep: np.ndarray  # bool [N]: boxes whose centre lies in the crop


def plan_caffe_crop(
    boxes: np.ndarray,
    *,
    width: int,
    height: int,
    rng: np.random.Generator,
    samplers: tuple[BatchSampler, ...] = CAFFE_SAMPLERS,
    max_expand_ratio: float = 4.0,
) -> CaffeCrop:
    """Expand, then batch-sample a crop of the canvas (boxes ``[N, 4]`` in image pixels)."""
    exp = draw_expansion(rng, width=width, height=height, max_ratio=max_expand_ratio)
    canvas_boxes = boxes + np.array([exp.left, exp.top, exp.left, exp.top], dtype=np.float32)
    canvas_size = np.array([exp.width, exp.height] * 2, dtype=np.float64)
    k, crop_norm = sample_caffe_crop(canvas_boxes / canvas_size, rng, samplers)
    x1, y1 = int(crop_norm[0] * exp.width), int(crop_norm[1] * exp.height)
    x2 = min(max(int(crop_norm[2] * exp.width), x1 + 1), exp.width)
    y2 = min(max(int(crop_norm[3] * exp.height), y1 + 1), exp.height)
    crop = np.array([x1, y1, x2, y2], dtype=np.float32)
    return CaffeCrop(exp, k, crop, centers_inside(canvas_boxes, crop))


# ---------------------------------------------------------------------- amdegroot / lufficc crop
# ssd.pytorch ``RandomSampleCrop.sample_options``: the whole image, min IoU .1 .3 .7 .9, and free.
LUFFICC_CROP_OPTIONS: tuple[tuple[float, float] | None, ...] = (
    None,
    (0.1, np.inf),
    (0.3, np.inf),
    (0.7, np.inf),
    (0.9, np.inf),
    (-np.inf, np.inf),
)


def sample_lufficc_crop(
    boxes: np.ndarray, *, width: int, height: int, rng: np.random.Generator, max_rounds: int = 1000
) -> tuple[np.ndarray, np.ndarray] | None:
    """amdegroot/lufficc ``RandomSampleCrop``: ``(crop int xyxy, kept-box mask)`` or ``None`` (no crop).

    Repeats: pick an option uniformly; ``None`` keeps the image; else up to 50 trials of w, h ~
    U(0.3, 1) x side with 0.5 <= h/w <= 2, passing when max IoU >= min and min IoU <= max and some
    box centre lies strictly inside. Images without boxes are not cropped.
    """
    if len(boxes) == 0:
        return None
    for _ in range(max_rounds):  # the original loops forever; 1000 rounds never all fail in practice
        option = LUFFICC_CROP_OPTIONS[int(rng.integers(len(LUFFICC_CROP_OPTIONS)))]
        if option is None:
            return None
        min_iou, max_iou = option
        for _ in range(50):
            w, h = rng.uniform(0.3 * width, width), rng.uniform(0.3 * height, height)
            if not 0.5 <= h / w <= 2:
                continue
            left, top = rng.uniform(0, width - w), rng.uniform(0, height - h)
            rect = np.array([int(left), int(top), int(left + w), int(top + h)], dtype=np.float32)
            overlap = iou_matrix(boxes, rect[None])[:, 0]
            if overlap.max() < min_iou or overlap.min() > max_iou:
                continue
            cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
            mask = (rect[0] < cx) & (rect[1] < cy) & (cx < rect[2]) & (cy < rect[3])
            if mask.any():
                return rect, mask
    return None


# -------------------------------------------------------------------- torchvision RandomIoUCrop
# torchvision.transforms.v2.RandomIoUCrop defaults (SSD paper §2.2 sampling as torchvision does it).
TORCHVISION_IOU_OPTIONS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 2.0)


def sample_torchvision_iou_crop(
    boxes: np.ndarray, *, width: int, height: int, rng: np.random.Generator, max_rounds: int = 1000
) -> tuple[np.ndarray, np.ndarray] | None:
    """torchvision's ``RandomIoUCrop`` semantics: ``(crop int xyxy, kept-box mask)`` or ``None``.

    Option 2.0 (>= 1) keeps the image; else up to 40 trials, width and height scaled independently
    by U(0.3, 1), 0.5 <= w/h <= 2, kept boxes have their centre strictly inside, and at least one
    kept box must reach the minimum IoU. Images without boxes are not cropped.
    """
    if len(boxes) == 0:
        return None
    for _ in range(max_rounds):
        min_iou = TORCHVISION_IOU_OPTIONS[int(rng.integers(len(TORCHVISION_IOU_OPTIONS)))]
        if min_iou >= 1.0:
            return None
        for _ in range(40):
            sw, sh = 0.3 + 0.7 * rng.random(2)
            new_w, new_h = int(width * sw), int(height * sh)
            if new_h == 0 or not 0.5 <= new_w / new_h <= 2.0:
                continue
            fx, fy = rng.random(2)
            left, top = int((width - new_w) * fx), int((height - new_h) * fy)
            right, bottom = left + new_w, top + new_h
            if left == right or top == bottom:
                continue
            cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
            mask = (left < cx) & (top < cy) & (cx < right) & (cy < bottom)
            if not mask.any():
                continue
            rect = np.array([left, top, right, bottom], dtype=np.float32)
            if iou_matrix(boxes[mask], rect[None]).max() < min_iou:
                continue
            return rect, mask
    return None
