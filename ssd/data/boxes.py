"""The framework's pixel-coordinate convention, stated once, and box validation at load time.

Convention (every boundary of ``ssd.data``): boxes are ``xyxy`` float32 in absolute pixels with
*continuous* coordinates: pixel column ``i`` covers ``[i, i + 1)``, so a box covering pixel columns
``0 .. w-1`` and rows ``0 .. h-1`` fully is ``[0, 0, w, h]`` and its width is ``x2 - x1``.

* VOC stores 1-based inclusive pixel indices ``xmin..xmax``: ``x1 = xmin - 1``, ``x2 = xmax``
  (likewise for y).
* COCO stores ``[x, y, w, h]`` already in continuous pixels: ``x1 = x``, ``x2 = x + w``.

Labels are int64 in ``1..K``; 0 is reserved for background and never appears in a target.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["voc_to_xyxy", "coco_xywh_to_xyxy", "sanitize_boxes"]


def voc_to_xyxy(xmin: float, ymin: float, xmax: float, ymax: float) -> list[float]:
    """VOC's 1-based inclusive pixel indices to the continuous ``xyxy`` convention above."""
    return [xmin - 1.0, ymin - 1.0, float(xmax), float(ymax)]


def coco_xywh_to_xyxy(bbox: np.ndarray) -> np.ndarray:
    """``Tensor[N, 4]`` COCO ``[x, y, w, h]`` to ``[x1, y1, x2, y2]`` (float32, same pixels)."""
    bbox = np.asarray(bbox, dtype=np.float32).reshape(-1, 4)
    return np.concatenate([bbox[:, :2], bbox[:, :2] + bbox[:, 2:]], axis=1)


def sanitize_boxes(
    boxes: np.ndarray,
    *,
    width: int,
    height: int,
    source: str,
    names: list[str] | None = None,
) -> np.ndarray:
    """Validate boxes read from an annotation file; return the boolean mask of boxes to keep.

    ``boxes`` (float32 ``[N, 4]`` xyxy, original image pixels) is clipped **in place** to
    ``[0, width] x [0, height]``. A box with a non-finite coordinate, or with ``x2 <= x1`` or
    ``y2 <= y1`` after clipping, is dropped. Every clip and drop is logged as a warning naming
    ``source`` (the annotation file) and the object (its index and, when given, its class name).
    """
    keep = np.ones(len(boxes), dtype=bool)
    for i, box in enumerate(boxes):
        what = f"{source}: object {i}" + (f" ({names[i]!r})" if names is not None else "")
        if not np.all(np.isfinite(box)):
            logger.warning("%s has non-finite coordinates %s; dropped", what, box.tolist())
            keep[i] = False
            continue
        clipped = np.array(
            [
                min(max(box[0], 0.0), width),
                min(max(box[1], 0.0), height),
                min(max(box[2], 0.0), width),
                min(max(box[3], 0.0), height),
            ],
            dtype=np.float32,
        )
        if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
            logger.warning(
                "%s is degenerate or outside the %dx%d image: %s; dropped", what, width, height, box.tolist()
            )
            keep[i] = False
            continue
        if not np.array_equal(clipped, box):
            logger.warning(
                "%s extends outside the %dx%d image: %s clipped to %s",
                what,
                width,
                height,
                box.tolist(),
                clipped.tolist(),
            )
            boxes[i] = clipped
    return keep
