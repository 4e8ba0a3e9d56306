"""Photometric distortion of SSD training, on uint8 RGB with lookup tables.

Caffe (weiliu89/caffe, ssd branch, ``src/caffe/util/im_transforms.cpp``, ``ApplyDistort``) draws,
each with p = 0.5: brightness delta U(-32, 32), contrast alpha U(0.5, 1.5), saturation alpha
U(0.5, 1.5) and hue delta U(-18, 18) on OpenCV's 0-180 hue scale, in one of two orders chosen with
p = 0.5: brightness, contrast, saturation, hue -- or brightness, saturation, hue, contrast. Each op
is a ``convertTo`` that saturates to 0..255, so every op is a per-channel 256-entry table:
brightness and contrast compose into one table, saturation and hue share one HSV round trip.

Every op is per-pixel, so it commutes exactly with crop, flip and expand, but not with the resize:
the ops are nonlinear (saturation at 0/255, the uint8 HSV round trip), so distorting the resized
image part (what the one-pass Caffe pipeline does, on fewer pixels: that is where the speed comes
from) differs slightly from Caffe's distort-then-resize. Measured on the synthetic set at 300 px:
mean |delta| 0.98 grey levels over 200 draws (``tests/data/test_caffe_exactness.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_VALUES = np.arange(256, dtype=np.float64)


@dataclass(frozen=True)
class CaffeDistortParams:
    """The distortion drawn for one image; ``None`` means the op is not applied."""

    brightness: float | None
    contrast: float | None
    saturation: float | None
    hue: float | None
    contrast_first: bool  # Caffe's first order (contrast before the HSV ops)


def draw_caffe_distortion(
    rng: np.random.Generator,
    *,
    brightness_delta: float = 32.0,
    contrast_range: tuple[float, float] = (0.5, 1.5),
    saturation_range: tuple[float, float] = (0.5, 1.5),
    hue_delta: float = 18.0,
    prob: float = 0.5,
) -> CaffeDistortParams:
    """Draw one image's distortion with Caffe's probabilities (ssd_pascal.py ``distort_param``)."""
    u = rng.random(5)
    values = rng.uniform(
        [-brightness_delta, contrast_range[0], saturation_range[0], -hue_delta],
        [brightness_delta, contrast_range[1], saturation_range[1], hue_delta],
    )
    return CaffeDistortParams(
        brightness=float(values[0]) if u[0] < prob else None,
        contrast=float(values[1]) if u[1] < prob else None,
        saturation=float(values[2]) if u[2] < prob else None,
        hue=float(values[3]) if u[3] < prob else None,
        contrast_first=bool(u[4] < 0.5),
    )


def saturate_lut(lut: np.ndarray) -> np.ndarray:
    """Round and saturate a float table to uint8, as OpenCV's ``saturate_cast<uchar>`` does."""
    return np.clip(np.rint(lut), 0, 255).astype(np.uint8)


def brightness_contrast_lut(delta: float | None, alpha: float | None) -> np.ndarray | None:
    """uint8 table of ``saturate(saturate(v + delta) * alpha)`` (either op may be ``None``)."""
    if delta is None and alpha is None:
        return None
    lut = _VALUES
    if delta is not None:
        lut = saturate_lut(lut + delta).astype(np.float64)
    if alpha is not None:
        lut = lut * alpha
    return saturate_lut(lut)


def hsv_lut(saturation: float | None, hue: float | None) -> np.ndarray | None:
    """``[1, 256, 3]`` uint8 table for an OpenCV 8-bit HSV image: shift H, scale S, keep V.

    Hue wraps modulo 180 (OpenCV's HSV->RGB also wraps hues >= 180; Caffe's saturating add
    differs only for hues pushed below 0, which it pins to red).
    """
    if saturation is None and hue is None:
        return None
    h = np.mod(np.rint(_VALUES + (hue or 0.0)), 180).astype(np.uint8)
    s = saturate_lut(_VALUES * saturation) if saturation is not None else _VALUES.astype(np.uint8)
    return np.ascontiguousarray(np.stack([h, s, _VALUES.astype(np.uint8)], axis=-1)[None])


def apply_caffe_distortion(image: np.ndarray, params: CaffeDistortParams) -> np.ndarray:
    """Apply ``params`` to a uint8 RGB ``[H, W, 3]`` array (saturating, never wrapping).

    Returns a new array, or ``image`` itself when no op was drawn.
    """
    first = brightness_contrast_lut(params.brightness, params.contrast if params.contrast_first else None)
    hsv = hsv_lut(params.saturation, params.hue)
    last = None if params.contrast_first else brightness_contrast_lut(None, params.contrast)
    out = image
    if first is not None:
        out = cv2.LUT(out, first)
    if hsv is not None:
        out = cv2.cvtColor(cv2.LUT(cv2.cvtColor(out, cv2.COLOR_RGB2HSV), hsv), cv2.COLOR_HSV2RGB)
    if last is not None:
        out = cv2.LUT(out, last)
    return out


def apply_lufficc_distortion(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """amdegroot/ssd.pytorch ``PhotometricDistort`` semantics on a float32 RGB image (no clipping).

    Brightness +U(-32, 32); then, in one of two orders, contrast x U(0.5, 1.5), saturation
    x U(0.5, 1.5) and hue + U(-18, 18) degrees on the 0-360 float HSV scale; then a random
    channel permutation. Each step with p = 0.5. Values may leave 0..255, as in the original.
    """
    image = image.astype(np.float32, copy=True)
    if rng.random() < 0.5:
        image += rng.uniform(-32, 32)
    contrast_first = rng.random() < 0.5
    if contrast_first and rng.random() < 0.5:
        image *= rng.uniform(0.5, 1.5)
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    if rng.random() < 0.5:
        hsv[:, :, 1] *= rng.uniform(0.5, 1.5)
    if rng.random() < 0.5:
        hsv[:, :, 0] = np.mod(hsv[:, :, 0] + rng.uniform(-18, 18), 360.0)
    image = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    if not contrast_first and rng.random() < 0.5:
        image *= rng.uniform(0.5, 1.5)
    if rng.random() < 0.5:
        image = np.ascontiguousarray(image[:, :, rng.permutation(3)])
    return image
