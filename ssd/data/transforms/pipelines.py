"""Training and test pipelines: RGB uint8 ``[H, W, 3]`` + boxes -> network input ``Tensor[3, S, S]``.

Every training pipeline registered in :data:`TRAIN_PIPELINES` is built with the same keyword
arguments, ``cls(size=S, pixel_mean=[r, g, b] in 0-255, random_interpolation=bool)`` (a pipeline
that has no use for one accepts and ignores it), so the builder never branches on the name and
adding a pipeline touches this file only.

Every pipeline is called as ``pipeline(image, boxes, labels, rng=rng)`` with boxes float32
``[N, 4]`` xyxy in original pixels and labels int64 ``[N]``; it returns ``(image Tensor[3, S, S],
boxes float32 Tensor[M, 4] xyxy in pixels of the S x S input, labels int64 Tensor[M])``. All
randomness comes from ``rng`` so a sample is a pure function of its seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

from ...config.choices import RESIZE_MODES
from ...utils.registry import Registry
from .geometry import (
    CAFFE_SAMPLERS,
    BatchSampler,
    crop_boxes,
    plan_caffe_crop,
    sample_lufficc_crop,
    sample_torchvision_iou_crop,
)
from .photometric import apply_caffe_distortion, apply_lufficc_distortion, draw_caffe_distortion
from .resample import resample_crop
from .resize import resize_image

TRAIN_PIPELINES = Registry("augmentation")  # INPUT.AUGMENTATION chooses one

# Caffe ssd_pascal.py ``resize_param.interp_mode`` when the interpolation is random.
RANDOM_INTERPOLATIONS = (
    cv2.INTER_LINEAR,
    cv2.INTER_AREA,
    cv2.INTER_NEAREST,
    cv2.INTER_CUBIC,
    cv2.INTER_LANCZOS4,
)


# (image Tensor[3, S, S], boxes float32 Tensor[M, 4] xyxy in input pixels, labels int64 Tensor[M])
Output = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _outputs(image: np.ndarray, boxes: np.ndarray, labels: np.ndarray) -> Output:
    """HWC array -> CHW tensor; boxes clipped to the image (float rounding of the scale) and empty
    ones dropped with their labels."""
    boxes = np.clip(boxes, 0, [image.shape[1], image.shape[0]] * 2)
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return (
        torch.from_numpy(image).permute(2, 0, 1),
        torch.from_numpy(np.ascontiguousarray(boxes[keep], dtype=np.float32)),
        torch.from_numpy(np.ascontiguousarray(labels[keep], dtype=np.int64)),
    )


def _interpolation(rng: np.random.Generator, random: bool) -> int:
    """One of :data:`RANDOM_INTERPOLATIONS` drawn uniformly when ``random``, else bilinear (no draw)."""
    return RANDOM_INTERPOLATIONS[int(rng.integers(len(RANDOM_INTERPOLATIONS)))] if random else cv2.INTER_LINEAR


def _flip_boxes(boxes: np.ndarray, width: float) -> np.ndarray:
    """Mirror xyxy boxes horizontally in an image of ``width`` pixels (x -> width - x)."""
    out = boxes.copy()
    out[:, 0], out[:, 2] = width - boxes[:, 2], width - boxes[:, 0]
    return out


class ResizeTransform:
    """Test time: resize to ``size x size`` by ``mode`` (:mod:`.resize`: ``"opencv"`` bilinear to
    uint8, ``"tf_bilinear"`` TF1's ResizeBilinear to float32 0-255), boxes scaled by ``size / W``,
    ``size / H`` (both modes map source ``x`` to ``x * size / W``)."""

    def __init__(self, *, size: int, mode: str = "opencv") -> None:
        if mode not in RESIZE_MODES:
            raise ValueError(f"resize mode {mode!r}; expected one of {list(RESIZE_MODES)}")
        self.size = size
        self.mode = mode

    def __call__(
        self, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, *, rng: np.random.Generator | None = None
    ) -> Output:
        h, w = image.shape[:2]
        out = resize_image(image, size=self.size, mode=self.mode)
        scale = np.array([self.size / w, self.size / h] * 2, dtype=np.float32)
        return _outputs(out, boxes * scale, labels)


@TRAIN_PIPELINES.register("caffe")
class CaffeTrainTransform:
    """The SSD training pipeline of weiliu89/caffe (ssd branch, ssd_pascal.py), composed in one pass.

    Draws: photometric distortion (see :mod:`.photometric`), expand (p 0.5, ratio U(1, 4), mean
    canvas), a batch-sampled crop of the expanded canvas (:func:`.geometry.sample_caffe_crop`),
    boxes kept when their centre is in the crop then clipped, resize to ``size``, flip (p 0.5).

    The expanded canvas is never built: the part of the image inside the crop is resampled straight
    to its exact sub-pixel place in the output (:func:`.resample.resample_crop`; the geometry equals
    expand-then-crop-then-resize up to interpolation rounding), and the distortion is applied to
    that resized part afterwards, usually on fewer pixels than the source has, which is where the speed
    comes from. The mean fill stays undistorted, as in Caffe. Distorting after the resize is *not*
    exactly Caffe's order: the ops are per-pixel but nonlinear (saturation, the HSV round trip), so
    they do not commute with interpolation; ``tests/data/test_caffe_exactness.py`` bounds the
    difference (about a grey level on average).
    """

    def __init__(
        self,
        *,
        size: int,
        pixel_mean: Sequence[float],
        random_interpolation: bool = False,
        max_expand_ratio: float = 4.0,
        samplers: tuple[BatchSampler, ...] = CAFFE_SAMPLERS,
        flip_prob: float = 0.5,
    ) -> None:
        self.size = size
        self.fill = np.clip(np.rint(np.asarray(pixel_mean, dtype=np.float64)), 0, 255).astype(np.uint8)
        self.random_interpolation = random_interpolation
        self.max_expand_ratio = max_expand_ratio
        self.samplers = samplers
        self.flip_prob = flip_prob

    def __call__(self, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, *, rng: np.random.Generator) -> Output:
        s = self.size
        h, w = image.shape[:2]
        distortion = draw_caffe_distortion(rng)
        plan = plan_caffe_crop(
            boxes, width=w, height=h, rng=rng, samplers=self.samplers, max_expand_ratio=self.max_expand_ratio
        )
        exp, keep = plan.expansion, plan.keep
        x1, y1, x2, y2 = (int(v) for v in plan.crop)
        sx, sy = s / (x2 - x1), s / (y2 - y1)
        canvas_boxes = boxes[keep] + np.array([exp.left, exp.top, exp.left, exp.top], dtype=np.float32)
        out_boxes = crop_boxes(canvas_boxes, plan.crop) * np.array([sx, sy, sx, sy], dtype=np.float32)
        out_labels = labels[keep]
        flip = rng.random() < self.flip_prob
        interp = _interpolation(rng, self.random_interpolation)

        out, slot = resample_crop(
            image, expansion=exp, crop=(x1, y1, x2, y2), size=s, fill=self.fill, interpolation=interp, flip=flip
        )
        if slot == (0, 0, s, s):
            out = apply_caffe_distortion(out, distortion)
        elif slot is not None:  # distort the image part only: the mean fill stays as Caffe leaves it
            ox1, oy1, ox2, oy2 = slot
            out[oy1:oy2, ox1:ox2] = apply_caffe_distortion(out[oy1:oy2, ox1:ox2], distortion)
        if flip:
            out_boxes = _flip_boxes(out_boxes, s)
        return _outputs(out, out_boxes, out_labels)


@TRAIN_PIPELINES.register("lufficc")
class LufficcTrainTransform:
    """lufficc/SSD (after amdegroot/ssd.pytorch) training semantics, float32 throughout.

    ConvertFromInts, PhotometricDistort (with channel swap), Expand (p 0.5, ratio U(1, 4), mean
    canvas, built in full), RandomSampleCrop, RandomMirror, Resize. Returns float32 0-255 (not
    clipped, as in the original); mean subtraction is the model's job here.
    """

    def __init__(self, *, size: int, pixel_mean: Sequence[float], random_interpolation: bool = False) -> None:
        self.size = size
        self.mean = np.asarray(pixel_mean, dtype=np.float32)
        self.random_interpolation = random_interpolation  # lufficc itself: always bilinear

    def __call__(self, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, *, rng: np.random.Generator) -> Output:
        img = apply_lufficc_distortion(image, rng)
        boxes = boxes.copy()
        if rng.random() < 0.5:
            h, w = img.shape[:2]
            ratio = rng.uniform(1, 4)
            left, top = int(rng.uniform(0, w * ratio - w)), int(rng.uniform(0, h * ratio - h))
            canvas = np.empty((int(h * ratio), int(w * ratio), 3), dtype=np.float32)
            canvas[:] = self.mean
            canvas[top : top + h, left : left + w] = img
            img = canvas
            boxes += np.array([left, top, left, top], dtype=np.float32)
        h, w = img.shape[:2]
        sampled = sample_lufficc_crop(boxes, width=w, height=h, rng=rng)
        if sampled is not None:
            rect, mask = sampled
            img = img[int(rect[1]) : int(rect[3]), int(rect[0]) : int(rect[2])]
            boxes, labels = crop_boxes(boxes[mask], rect), labels[mask]
            h, w = img.shape[:2]
        out = cv2.resize(img, (self.size, self.size), interpolation=_interpolation(rng, self.random_interpolation))
        boxes = boxes * np.array([self.size / w, self.size / h] * 2, dtype=np.float32)
        if rng.random() < 0.5:  # mirroring after the resize equals mirroring before it, and is cheaper
            out, boxes = np.ascontiguousarray(out[:, ::-1]), _flip_boxes(boxes, self.size)
        return _outputs(out, boxes, labels)


@TRAIN_PIPELINES.register("ssdlite")
class SSDLiteTrainTransform:
    """torchvision's SSDLite recipe (references/detection/presets.py "ssdlite"): RandomIoUCrop and
    horizontal flip (p 0.5) only, then the resize to ``size`` its model does internally. uint8."""

    def __init__(self, *, size: int, pixel_mean: Sequence[float], random_interpolation: bool = False) -> None:
        self.size = size  # pixel_mean is unused: this recipe has no expand canvas to fill
        self.random_interpolation = random_interpolation

    def __call__(self, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, *, rng: np.random.Generator) -> Output:
        h, w = image.shape[:2]
        sampled = sample_torchvision_iou_crop(boxes, width=w, height=h, rng=rng)
        if sampled is not None:
            rect, mask = sampled
            image = image[int(rect[1]) : int(rect[3]), int(rect[0]) : int(rect[2])]
            boxes, labels = crop_boxes(boxes[mask], rect), labels[mask]
            h, w = image.shape[:2]
        interp = _interpolation(rng, self.random_interpolation)
        out = cv2.resize(image, (self.size, self.size), interpolation=interp)
        boxes = boxes * np.array([self.size / w, self.size / h] * 2, dtype=np.float32)
        if rng.random() < 0.5:
            out, boxes = np.ascontiguousarray(out[:, ::-1]), _flip_boxes(boxes, self.size)
        return _outputs(out, boxes, labels)
