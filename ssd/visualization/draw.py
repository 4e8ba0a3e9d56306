"""Drawing detections on an image: boxes scaled to the image, captions that never overlap.

Conventions: images are uint8 ``[H, W, 3]`` BGR (OpenCV's order; pass RGB and the colours are
mirrored, nothing else changes); boxes are ``[K, 4]`` xyxy in absolute pixels of that image;
labels are 1-based (``l`` is ``class_names[l - 1]``; 0 is background and never drawn).

Layout rules (what ultralytics' ``Annotator`` and detectron2's ``Visualizer`` do, plus overlap
avoidance, which neither torchvision's ``draw_bounding_boxes`` nor the ``Annotator`` has):

* line width grows with the image: ``max(2, round(0.003 * (H + W) / 2))`` (ultralytics'
  ``Annotator`` formula), font scale and caption size follow the line width;
* a caption sits on a filled rectangle of the box colour, above the box's top-left corner, or
  just inside the box when there is no room above it (box at the image's top edge);
* captions are placed best score first; one that would intersect an already placed caption
  moves to the nearest free position in the image (vertical and upward moves first on ties);
* the palette's colours have a relative luminance between those of mid-grey tones, so each
  stands out against white and black alike (WCAG contrast ratio >= 2.5 against both), and the
  caption text is black or white, whichever contrasts more with its fill.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = [
    "PALETTE",
    "caption_layout",
    "class_colour",
    "contrast_ratio",
    "draw_boxes",
    "draw_detections",
    "font_scale",
    "line_width",
    "relative_luminance",
    "text_colour",
]

# RGB, saturated mid-tones: relative luminance 0.08..0.33, so contrast >= 2.5 on white and black
# (tests/visualization/test_draw.py checks both and that consecutive classes differ).
_PALETTE_RGB = (
    (230, 25, 75),  # red
    (0, 130, 200),  # blue
    (60, 160, 40),  # green
    (245, 110, 20),  # orange
    (145, 30, 180),  # purple
    (0, 150, 150),  # teal
    (200, 30, 200),  # magenta
    (130, 130, 0),  # olive
    (100, 80, 255),  # violet
    (170, 110, 40),  # brown
    (0, 140, 90),  # sea green
    (220, 60, 130),  # pink
    (40, 100, 230),  # royal blue
    (180, 80, 0),  # rust
    (120, 90, 160),  # lavender grey
    (20, 150, 200),  # sky
    (160, 40, 60),  # crimson
    (90, 140, 60),  # moss
    (210, 80, 230),  # orchid
    (0, 120, 140),  # petrol
)
PALETTE: tuple[tuple[int, int, int], ...] = tuple((b, g, r) for r, g, b in _PALETTE_RGB)  # BGR

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def line_width(height: int, width: int) -> int:
    """Box line width in pixels for an ``height x width`` image (ultralytics' ``Annotator``)."""
    return max(2, round(0.003 * (height + width) / 2))


def font_scale(line: int) -> float:
    """OpenCV font scale matching a box line width (caption height ~ 10 line widths)."""
    return line / 3.0


def class_colour(label: int) -> tuple[int, int, int]:
    """BGR colour of 1-based ``label``; the palette repeats every ``len(PALETTE)`` classes."""
    return PALETTE[(int(label) - 1) % len(PALETTE)]


def relative_luminance(bgr: Sequence[int]) -> float:
    """WCAG 2 relative luminance of an 8-bit BGR colour, in [0, 1]."""
    channels = np.asarray(bgr[::-1], dtype=np.float64) / 255.0  # -> RGB
    linear = np.where(channels <= 0.03928, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    return float(linear @ np.array([0.2126, 0.7152, 0.0722]))


def contrast_ratio(a: Sequence[int], b: Sequence[int]) -> float:
    """WCAG 2 contrast ratio of two BGR colours, from 1 (same) to 21 (black on white)."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_colour(fill: Sequence[int]) -> tuple[int, int, int]:
    """Black or white, whichever contrasts more with ``fill`` (BGR)."""
    black, white = (0, 0, 0), (255, 255, 255)
    return black if contrast_ratio(fill, black) >= contrast_ratio(fill, white) else white


def caption_layout(boxes: np.ndarray, sizes: np.ndarray, *, height: int, width: int) -> np.ndarray:
    """Where each caption goes: ``int64 [K, 4]`` rectangles ``[x1, y1, x2, y2)`` in image pixels.

    ``boxes [K, 4]`` xyxy in pixels, in placement priority order (best score first);
    ``sizes [K, 2]`` caption ``(width, height)`` in pixels. A caption's preferred place is above
    its box at the box's left edge, or just inside the box when there is no room above (box at
    the image's top edge), always within the image. One that would intersect a caption placed
    before it moves to the free position nearest (``|dx| + |dy|``) the preferred one, vertical
    moves and upward ones first on ties; when no position is free it stays where it prefers.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    sizes = np.asarray(sizes, dtype=np.int64).reshape(-1, 2)
    if len(boxes) != len(sizes):
        raise ValueError(f"{len(boxes)} boxes but {len(sizes)} caption sizes")
    placed = np.zeros((0, 4), dtype=np.int64)
    for (bx1, by1, _, _), (cw, ch) in zip(boxes, sizes, strict=True):
        x0 = int(np.clip(round(bx1), 0, max(width - cw, 0)))
        top = int(round(by1))
        y0 = int(np.clip(top - ch if top - ch >= 0 else top, 0, max(height - ch, 0)))
        # The free position nearest the preferred one is the preferred one, or touches a placed
        # caption or an image edge, in x and in y: those are the only candidates to try.
        xs = np.unique(np.concatenate([[x0, 0, width - cw], placed[:, 2], placed[:, 0] - cw]))
        ys = np.unique(np.concatenate([[y0, 0, height - ch], placed[:, 3], placed[:, 1] - ch]))
        xs = xs[(xs >= 0) & (xs <= width - cw)]
        ys = ys[(ys >= 0) & (ys <= height - ch)]
        cx, cy = (a.reshape(-1) for a in np.meshgrid(xs, ys))
        rects = np.stack([cx, cy, cx + cw, cy + ch], axis=1)
        free = ~(
            (rects[:, None, 0] < placed[None, :, 2])
            & (placed[None, :, 0] < rects[:, None, 2])
            & (rects[:, None, 1] < placed[None, :, 3])
            & (placed[None, :, 1] < rects[:, None, 3])
        ).any(axis=1)
        chosen = np.array([x0, y0, x0 + cw, y0 + ch], dtype=np.int64)
        if free.any():
            dx, dy = np.abs(cx - x0), np.abs(cy - y0)
            order = np.lexsort((cx, cy, dx, dx + dy))  # nearest, then least sideways, then up, then left
            chosen = rects[order[free[order]][0]]
        placed = np.concatenate([placed, chosen[None].astype(np.int64)])
    return placed


def _captions(labels: np.ndarray, scores: np.ndarray | None, class_names: Sequence[str] | None) -> list[str]:
    names = []
    for i, label in enumerate(labels):
        label = int(label)
        if class_names is not None and not 1 <= label <= len(class_names):
            raise ValueError(
                f"label {label} is outside 1..{len(class_names)} (the {len(class_names)} class names; "
                "0 is background and is never drawn)"
            )
        name = class_names[label - 1] if class_names is not None else str(label)
        names.append(name if scores is None else f"{name} {float(scores[i]):.2f}")
    return names


def _outline(image: np.ndarray, box: np.ndarray, colour: tuple[int, int, int], line: int) -> None:
    """Paint the outline of xyxy ``box`` in place, exactly ``line`` pixels wide and inside the box
    (pixels ``x1 <= x < x2``), clipped to the image. (``cv2.rectangle`` draws ``2t - 1`` or so
    pixels for thickness ``t``, centred on the edge.)"""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    x1, x2 = max(x1, 0), min(x2, width)
    y1, y2 = max(y1, 0), min(y2, height)
    if x2 <= x1 or y2 <= y1:
        return
    image[y1 : min(y1 + line, y2), x1:x2] = colour
    image[max(y2 - line, y1) : y2, x1:x2] = colour
    image[y1:y2, x1 : min(x1 + line, x2)] = colour
    image[y1:y2, max(x2 - line, x1) : x2] = colour


def draw_boxes(
    image: np.ndarray,
    boxes: np.ndarray,
    captions: Sequence[str],
    colours: Sequence[tuple[int, int, int]],
    priority: np.ndarray | None = None,
) -> np.ndarray:
    """A copy of BGR ``image`` with ``boxes [K, 4]`` (xyxy pixels) outlined in ``colours`` and
    their ``captions`` laid out by :func:`caption_layout` in ``priority`` order (default: given
    order). All boxes are drawn before any caption, so no line crosses a caption."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image [H, W, 3], got {image.dtype} {image.shape}")
    out = image.copy()
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return out
    height, width = out.shape[:2]
    line = line_width(height, width)
    scale, thick = font_scale(line), max(line - 1, 1)
    pad = max(line // 2, 1)
    order = np.arange(len(boxes)) if priority is None else np.asarray(priority)
    for i in order[::-1]:  # best last, so its box is on top
        _outline(out, boxes[i], colours[i], line)
    sizes, baselines = [], []
    for i in order:
        (tw, th), base = cv2.getTextSize(captions[i], _FONT, scale, thick)
        sizes.append((tw + 2 * pad, th + base + 2 * pad))
        baselines.append(base)
    rects = caption_layout(boxes[order], np.array(sizes), height=height, width=width)
    for i, (rx1, ry1, rx2, ry2), base in zip(order, rects, baselines, strict=True):
        cv2.rectangle(out, (int(rx1), int(ry1)), (int(rx2) - 1, int(ry2) - 1), colours[i], -1)
        origin = (int(rx1) + pad, int(ry2) - pad - base)
        cv2.putText(out, captions[i], origin, _FONT, scale, text_colour(colours[i]), thick, cv2.LINE_AA)
    return out


def draw_detections(
    image: np.ndarray,
    boxes: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
) -> np.ndarray:
    """A new BGR image: ``image`` (uint8 ``[H, W, 3]``, not modified) with each box outlined in
    its class colour and captioned ``"<class> <score>"`` (``"<class>"`` when ``scores`` is None,
    e.g. ground truth).

    ``boxes [K, 4]`` xyxy pixels of ``image``; ``labels [K]`` 1-based; ``scores [K]`` or None;
    ``class_names`` without background (label ``l`` -> ``class_names[l - 1]``; None writes the
    label number). Higher scores get the preferred caption positions and are drawn on top.
    Raises ``ValueError`` for a label outside ``1..len(class_names)`` or mismatched lengths.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    labels = np.asarray(labels).reshape(-1)
    scores = None if scores is None else np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(labels) != len(boxes) or (scores is not None and len(scores) != len(boxes)):
        raise ValueError(
            f"{len(boxes)} boxes, {len(labels)} labels and {'no' if scores is None else len(scores)} scores"
        )
    captions = _captions(labels, scores, class_names)
    colours = [class_colour(int(label)) for label in labels]
    priority = None if scores is None else np.argsort(-scores, kind="stable")
    return draw_boxes(image, boxes, captions, colours, priority)
