"""Test-time resizes of a whole image to the network's ``S x S`` input, one per ``INPUT.RESIZE_MODE``.

* ``"opencv"``: ``cv2.resize(INTER_LINEAR)`` to uint8. Pixel centres map onto each other
  (source ``x = (u + 0.5) * in / out - 0.5``), weights in fixed point, the result rounded.
* ``"tf_bilinear"``: TensorFlow 1's ``ResizeBilinear`` with ``align_corners=False`` and
  ``half_pixel_centers=False``, what TF object-detection API graphs (``Preprocessor/ResizeImage``)
  do to the photo they are fed: source ``x = u * in / out`` (pixel corners map onto each other, so
  the image shifts by up to half a source pixel against OpenCV's), float32 weights and float32
  output, never rounded (TF feeds it to the network as it is).
"""

from __future__ import annotations

import cv2
import numpy as np

from ...config.choices import RESIZE_MODES

# mode -> the dtype of its output (what an exported graph must take as input); one entry per RESIZE_MODES
RESIZE_DTYPES: dict[str, type[np.generic]] = {"opencv": np.uint8, "tf_bilinear": np.float32}


def _tf_axis(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(lower int64 [out], upper int64 [out], lerp float32 [out])`` of one axis, as TF's
    ``compute_interpolation_weights`` with its ``LegacyScaler``: ``in = float32(u) * (in / out)``
    in float32, ``lower = floor(in)``, ``upper = min(ceil(in), in_size - 1)``, ``lerp = in - lower``."""
    scale = np.float32(in_size) / np.float32(out_size)
    src = np.arange(out_size, dtype=np.float32) * scale
    floor = np.floor(src)
    lower = floor.astype(np.int64)
    upper = np.minimum(np.ceil(src).astype(np.int64), in_size - 1)
    return lower, upper, (src - floor).astype(np.float32)


def resize_tf_bilinear(image: np.ndarray, *, height: int, width: int) -> np.ndarray:
    """``image`` ``[H, W, C]`` (or ``[H, W]``, any real dtype) -> float32 ``[height, width, C]``
    (``[height, width]``): TF1 ``ResizeBilinear(align_corners=False, half_pixel_centers=False)``.

    Output pixel ``(v, u)`` interpolates source ``(v * H / height, u * W / width)`` between the
    floor and ceil neighbours (clamped to the last row / column), in TF's order of operations
    (``top = tl + (tr - tl) * x_lerp``, same for ``bottom``, then ``top + (bottom - top) * y_lerp``),
    so the float32 result is TF's to rounding. Nothing is rounded to integers.
    """
    if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"expected an image [H, W] or [H, W, C] with pixels, got shape {image.shape}")
    if height < 1 or width < 1:
        raise ValueError(f"output size {height} x {width}: both sides must be >= 1")
    src = image.astype(np.float32, copy=False)
    y0, y1, yl = _tf_axis(src.shape[0], height)
    x0, x1, xl = _tf_axis(src.shape[1], width)
    # weights broadcast over the channel axis when there is one
    yl = yl.reshape(-1, *([1] * (src.ndim - 1)))
    xl = xl.reshape(-1, *([1] * (src.ndim - 2)))
    top_rows, bottom_rows = src[y0], src[y1]
    top_left, bottom_left = top_rows[:, x0], bottom_rows[:, x0]  # each corner gathered once
    top = top_left + (top_rows[:, x1] - top_left) * xl
    bottom = bottom_left + (bottom_rows[:, x1] - bottom_left) * xl
    return top + (bottom - top) * yl


def resize_image(image: np.ndarray, *, size: int, mode: str) -> np.ndarray:
    """uint8 ``[H, W, 3]`` -> ``[size, size, 3]`` by ``mode`` (see the module doc): uint8 for
    ``"opencv"``, float32 0-255 for ``"tf_bilinear"`` (:data:`RESIZE_DTYPES`)."""
    if mode == "opencv":
        return cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
    if mode == "tf_bilinear":
        return resize_tf_bilinear(image, height=size, width=size)
    raise ValueError(f"resize mode {mode!r}; expected one of {list(RESIZE_MODES)}")
