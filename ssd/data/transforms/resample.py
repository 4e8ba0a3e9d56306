"""Resampling one crop of an expanded canvas to the network input, without building the canvas.

Caffe's order is expand (image pasted at ``(left, top)`` of a mean-filled canvas), crop the integer
rectangle ``[x1, x2) x [y1, y2)`` of the canvas, resize the crop to ``S x S``, flip. This module
produces the same pixels from the image alone:

* crop inside the image: ``cv2.resize`` of the image slice (what Caffe computes, exactly);
* crop reaching the canvas, LINEAR / CUBIC / LANCZOS4: one ``cv2.warpAffine`` of the image part
  with the mean as border value, sampling output pixel ``u`` at canvas ``x = x1 + (u + 0.5) *
  (x2 - x1) / S - 0.5`` (``cv2.resize``'s pixel-centre rule), so the image lands at its exact
  sub-pixel place relative to the boxes; only the output pixels the image can reach are warped.
  The image part is replicated beyond a crop edge first (resize clamps there); beyond an image
  edge the border value stands for the canvas. What remains is interpolation rounding (warpAffine
  quantises source positions to 1/32 pixel): a grey level, a few for LANCZOS4 at sharp edges
  (``tests/data/test_caffe_exactness.py`` bounds each interpolation);
* NEAREST: the rows and columns ``cv2.resize`` picks (``floor(u * (x2 - x1) / S)``), by one
  ``cv2.remap`` with integer maps (exact);
* AREA: true area averaging (no warp reproduces it) on only the rows and columns the image
  touches (see :func:`_area`; at most 1 level from one pass).

The flip is folded into the warp and the remap, and done on the result otherwise.
"""

from __future__ import annotations

import cv2
import numpy as np

from .geometry import Expansion


def _image_part(exp: Expansion, crop: tuple[int, int, int, int], width: int, height: int):
    """The crop's intersection with the image, in image pixels ``(ix1, iy1, ix2, iy2)``, or ``None``."""
    x1, y1, x2, y2 = crop
    ix1, iy1 = max(x1 - exp.left, 0), max(y1 - exp.top, 0)
    ix2, iy2 = min(x2 - exp.left, width), min(y2 - exp.top, height)
    return (ix1, iy1, ix2, iy2) if ix2 > ix1 and iy2 > iy1 else None


def resample_crop(
    image: np.ndarray,
    *,
    expansion: Expansion,
    crop: tuple[int, int, int, int],
    size: int,
    fill: np.ndarray,
    interpolation: int,
    flip: bool,
) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """``(out uint8 [S, S, 3], slot)``: the crop of the expanded canvas resized to ``size`` (flipped).

    ``image`` is uint8 ``[H, W, 3]``; ``crop`` integer xyxy on the canvas; ``fill`` the uint8 ``[3]``
    canvas colour. ``slot`` is the output rectangle ``(x1, y1, x2, y2)`` (after the flip) that the
    image covers, rounded to whole pixels (``None`` when the crop misses the image): where the
    caller applies the photometric distortion, the mean fill staying undistorted as in Caffe.
    """
    s = size
    h, w = image.shape[:2]
    x1, y1, x2, y2 = crop
    part = _image_part(expansion, crop, w, h)
    if part is None:
        return _filled(s, s, fill), None
    ix1, iy1, ix2, iy2 = part
    cw, ch = x2 - x1, y2 - y1
    sx, sy = s / cw, s / ch
    # the image part in output pixels (before the flip), rounded
    ox1, ox2 = round((ix1 + expansion.left - x1) * sx), round((ix2 + expansion.left - x1) * sx)
    oy1, oy2 = round((iy1 + expansion.top - y1) * sy), round((iy2 + expansion.top - y1) * sy)
    slot = (s - ox2, oy1, s - ox1, oy2) if flip else (ox1, oy1, ox2, oy2)

    inside = (ix1, iy1, ix2, iy2) == (x1 - expansion.left, y1 - expansion.top, x2 - expansion.left, y2 - expansion.top)
    if inside:
        out = cv2.resize(image[iy1:iy2, ix1:ix2], (s, s), interpolation=interpolation)
    elif interpolation == cv2.INTER_AREA:
        out = _area(image, expansion, crop, part, s, fill)
    elif interpolation == cv2.INTER_NEAREST:
        return _nearest(image, expansion, crop, s, fill, flip), slot
    else:
        return _warp(image, expansion, crop, part, s, fill, interpolation, flip), slot
    if flip:
        out = np.ascontiguousarray(out[:, ::-1])
    return out, slot


def _filled(height: int, width: int, fill: np.ndarray) -> np.ndarray:
    """uint8 ``[height, width, 3]`` of ``fill``: one row tiled, then copied row by row (a memcpy each,
    much faster than broadcasting a 3-vector over the image)."""
    out = np.empty((height, width * 3), dtype=np.uint8)
    if height:
        out[0] = np.tile(fill, width)
        out[1:] = out[0]
    return out.reshape(height, width, 3)


def _area(image, exp: Expansion, crop, part, s: int, fill: np.ndarray) -> np.ndarray:
    """``cv2.resize`` INTER_AREA of the crop, building only what the image touches.

    When the crop is shrunk in both directions (cv2's true area averaging), the average is taken
    in two passes: across the crop's full width on the image's rows only, then down the crop's full
    height on the output columns the image reaches (rows and columns of pure mean average to the
    mean). The uint8 rounding between the passes is the only difference from one pass (<= 1 level;
    area weights are positive, so nothing saturates in between). Otherwise (cv2's upsampling rule,
    which does not separate; small crops) the crop itself is built and resized.
    """
    x1, y1, x2, y2 = crop
    ix1, iy1, ix2, iy2 = part
    cw, ch = x2 - x1, y2 - y1
    px, py = ix1 + exp.left - x1, iy1 + exp.top - y1  # the image part's place in the crop
    pw, ph = ix2 - ix1, iy2 - iy1
    if cw < s or ch < s:
        canvas = _filled(ch, cw, fill)
        canvas[py : py + ph, px : px + pw] = image[iy1:iy2, ix1:ix2]
        return cv2.resize(canvas, (s, s), interpolation=cv2.INTER_AREA)
    strip = _filled(ph, cw, fill)
    strip[:, px : px + pw] = image[iy1:iy2, ix1:ix2]
    rows = cv2.resize(strip, (s, ph), interpolation=cv2.INTER_AREA)  # [ph, s]
    c0, c1 = _touched(px, px + pw, s / cw, 1, s)
    column = _filled(ch, c1 - c0, fill)
    column[py : py + ph] = rows[:, c0:c1]
    out = _filled(s, s, fill)
    out[:, c0:c1] = cv2.resize(column, (c1 - c0, s), interpolation=cv2.INTER_AREA)
    return out


def _nearest(image, exp: Expansion, crop, s: int, fill: np.ndarray, flip: bool) -> np.ndarray:
    """``cv2.resize`` INTER_NEAREST of the crop: output ``u`` takes source ``floor(u * ifx)``."""
    x1, y1, x2, y2 = crop
    u = np.arange(s, dtype=np.float64)
    # cv2's resizeNN: ifx = 1 / (dst / src) in double, then floor(u * ifx), clamped to the crop
    cols = np.minimum(np.floor(u * (1.0 / (s / (x2 - x1)))).astype(np.int64), x2 - x1 - 1) + x1 - exp.left
    rows = np.minimum(np.floor(u * (1.0 / (s / (y2 - y1)))).astype(np.int64), y2 - y1 - 1) + y1 - exp.top
    maps = np.empty((s, s, 2), dtype=np.int16)  # exact integer source positions: no interpolation
    maps[..., 0] = cols[::-1] if flip else cols
    maps[..., 1] = rows[:, None]
    value = tuple(int(v) for v in fill)
    return cv2.remap(image, maps, None, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=value)


_PAD = 4  # replicated pixels beyond a crop edge: the widest kernel's reach (LANCZOS4: 4 source pixels)
# How far (in source pixels) each warped kernel reaches beyond its sample position.
_REACH = {cv2.INTER_LINEAR: 1, cv2.INTER_CUBIC: 2, cv2.INTER_LANCZOS4: 4}


def _touched(start: float, stop: float, scale: float, reach: int, s: int) -> tuple[int, int]:
    """Output range ``[a, b)`` whose samples can see source ``[start, stop)`` (crop coordinates)."""
    return max(int(np.floor((start - reach) * scale)) - 1, 0), min(int(np.ceil((stop + reach) * scale)) + 1, s)


def _warp(image, exp: Expansion, crop, part, s: int, fill: np.ndarray, interpolation: int, flip: bool) -> np.ndarray:
    x1, y1, x2, y2 = crop
    ix1, iy1, ix2, iy2 = part
    inv_x, inv_y = (x2 - x1) / s, (y2 - y1) / s
    # Beyond a side of the image part that is a crop edge, cv2.resize replicates the crop's last
    # pixels; beyond a side that is the image's edge, the canvas (mean: the warp's border) follows.
    # A shrinking LINEAR resize never samples beyond the crop, so it needs no replicated pixels
    # (which saves copying the image part in the common case).
    needs_x = interpolation != cv2.INTER_LINEAR or inv_x < 1
    needs_y = interpolation != cv2.INTER_LINEAR or inv_y < 1
    replicate = (
        _PAD if needs_y and iy1 == y1 - exp.top else 0,
        _PAD if needs_y and iy2 == y2 - exp.top else 0,
        _PAD if needs_x and ix1 == x1 - exp.left else 0,
        _PAD if needs_x and ix2 == x2 - exp.left else 0,
    )
    src = image[iy1:iy2, ix1:ix2]
    if any(replicate):
        src = cv2.copyMakeBorder(src, *replicate, cv2.BORDER_REPLICATE)
    origin_x, origin_y = ix1 + exp.left - replicate[2], iy1 + exp.top - replicate[0]  # canvas position of src[0, 0]
    # Only the output pixels the image can reach are warped; the rest is the mean.
    reach = _REACH[interpolation]
    c0, c1 = _touched(ix1 + exp.left - x1, ix2 + exp.left - x1, 1 / inv_x, reach, s)
    r0, r1 = _touched(iy1 + exp.top - y1, iy2 + exp.top - y1, 1 / inv_y, reach, s)
    # local output (j, i) is output (a + d * j, r0 + i); output u samples canvas x1 + (u + 0.5) * inv - 0.5
    # (cv2.resize's rule), i.e. src x = d * inv * j + (a + 0.5) * inv - 0.5 + x1 - origin_x.
    a, d = (c1 - 1, -1.0) if flip else (c0, 1.0)
    m = np.array(
        [
            [d * inv_x, 0.0, (a + 0.5) * inv_x - 0.5 + x1 - origin_x],
            [0.0, inv_y, (r0 + 0.5) * inv_y - 0.5 + y1 - origin_y],
        ]
    )
    value = tuple(int(v) for v in fill)
    flags = interpolation | cv2.WARP_INVERSE_MAP
    if (c0, c1, r0, r1) == (0, s, 0, s):
        return cv2.warpAffine(src, m, (s, s), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=value)
    out = _filled(s, s, fill)
    oc0, oc1 = (s - c1, s - c0) if flip else (c0, c1)
    out[r0:r1, oc0:oc1] = cv2.warpAffine(
        src, m, (c1 - c0, r1 - r0), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=value
    )
    return out
