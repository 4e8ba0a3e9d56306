"""The embedded synthetic dataset: coloured shapes on textured backgrounds, as real JPEGs.

Each image shows 1..n shapes (circle, square, triangle, star) with random colours, sizes,
rotations, partial occlusion (later shapes drawn over earlier ones, bounded by ``max_occlusion``)
and truncation at the image border, over a background of gradients, blotches, stripes and thin
clutter strokes. A box is the tight box of the *visible* pixels of its shape, in the framework's
continuous-pixel convention (:mod:`ssd.data.boxes`). Everything is a function of the seed: image
``k`` of a split uses its own generator seeded by ``(seed, split, k)``.

Written layouts: VOC (``JPEGImages/``, ``Annotations/``, ``ImageSets/Main/{trainval,test}.txt``,
``classes.txt``), COCO (``train/``, ``test/``, ``annotations/instances_{train,test}.json``, with
non-contiguous category ids 10, 20, 30, ... so the label <-> category mapping is always exercised)
or YOLO (``images/{train,val}/``, ``labels/{train,val}/``, ``data.yaml``).
"""

from __future__ import annotations

import json
import logging
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace

import cv2
import numpy as np

from .writers import voc_xml, write_yolo_data_yaml, yolo_label_lines

logger = logging.getLogger(__name__)

SHAPE_CLASSES = ("circle", "square", "triangle", "star")
_SPLITS = {"train": 0, "test": 1, "demo": 2}
# Uniform -5..5 pixel noise, drawn once from a fixed seed (drawing it per image costs more than the image).
_NOISE_TILE = np.random.default_rng(12345).integers(-5, 6, (1024, 1024, 3), dtype=np.int16)


@dataclass(frozen=True)
class SyntheticSpec:
    """Difficulty knobs. Sizes are fractions of the image's shorter side (shape diameter)."""

    classes: tuple[str, ...] = SHAPE_CLASSES
    min_objects: int = 1
    max_objects: int = 4
    min_size: float = 0.15
    max_size: float = 0.5
    min_side: int = 300  # image sides drawn in [min_side, max_side] pixels
    max_side: int = 420
    max_occlusion: float = 0.3  # largest fraction of a shape hidden by later shapes
    truncation_prob: float = 0.15  # chance a shape is centred near a border and cut by it
    clutter: int = 8  # thin distractor strokes in the background
    texture: float = 1.0  # 0 = flat gradient background, 1 = full blotches, stripes and noise
    jpeg_quality: int = 90


DIFFICULTIES: dict[str, SyntheticSpec] = {
    # easy: what the CPU quickstart trains on (few, medium-to-large shapes, mild clutter).
    "easy": SyntheticSpec(
        min_objects=1,
        max_objects=3,
        min_size=0.2,
        max_size=0.55,
        max_occlusion=0.2,
        truncation_prob=0.1,
        clutter=4,
        texture=0.6,
    ),
    "medium": SyntheticSpec(),
    "hard": SyntheticSpec(
        min_objects=2,
        max_objects=8,
        min_size=0.06,
        max_size=0.45,
        max_occlusion=0.45,
        truncation_prob=0.3,
        clutter=16,
        texture=1.0,
    ),
}


def _shape_polygon(kind: str, cx: float, cy: float, radius: float, angle: float) -> np.ndarray | None:
    """Vertices ``[V, 2]`` of a rotated shape (``None`` for the circle)."""
    if kind == "circle":
        return None
    if kind == "square":
        t = angle + np.pi / 4 + np.arange(4) * np.pi / 2
        r = np.full(4, radius * 0.85)  # a square's half-diagonal, so its area matches the others'
    elif kind == "triangle":
        t = angle + np.arange(3) * 2 * np.pi / 3
        r = np.full(3, radius)
    elif kind == "star":
        t = angle + np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, radius, radius * 0.45)
    else:
        raise ValueError(f"unknown synthetic shape {kind!r}; known: {list(SHAPE_CLASSES)}")
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


def _draw_mask(kind: str, height: int, width: int, cx: float, cy: float, radius: float, angle: float):
    mask = np.zeros((height, width), dtype=np.uint8)
    poly = _shape_polygon(kind, cx, cy, radius, angle)
    shift = 4  # sub-pixel vertex precision for cv2 drawing
    if poly is None:
        cv2.circle(mask, (int(cx * 16), int(cy * 16)), int(radius * 16), 1, -1, cv2.LINE_8, shift)
    else:
        cv2.fillPoly(mask, [np.rint(poly * 16).astype(np.int32)], 1, cv2.LINE_8, shift)
    return mask.astype(bool)


def _background(rng: np.random.Generator, height: int, width: int, spec: SyntheticSpec) -> np.ndarray:
    full_height, full_width = height, width
    height, width = (height + 1) // 2, (width + 1) // 2  # texture at half resolution: 4x cheaper
    c0, c1 = rng.uniform(0, 255, 3).astype(np.float32), rng.uniform(0, 255, 3).astype(np.float32)
    direction = rng.uniform(0, 2 * np.pi)
    xx = np.arange(width, dtype=np.float32)[None, :]
    yy = np.arange(height, dtype=np.float32)[:, None]
    t = np.float32(np.cos(direction) / width) * xx + np.float32(np.sin(direction) / height) * yy
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    img = c0 + (c1 - c0) * t[..., None]
    if spec.texture > 0:
        cells = int(rng.integers(3, 12))
        blotches = cv2.resize(
            rng.uniform(-60, 60, (cells, cells, 3)).astype(np.float32),
            (width, height),
            interpolation=cv2.INTER_CUBIC,
        )
        period, angle = rng.uniform(3, 20), rng.uniform(0, np.pi)
        phase = (
            np.float32(np.cos(angle) * 2 * np.pi / period) * xx + np.float32(np.sin(angle) * 2 * np.pi / period) * yy
        )
        stripes = np.float32(rng.uniform(5, 25)) * np.sin(phase)
        noise = rng.integers(-12, 13, (height, width, 3), dtype=np.int8)  # uniform: 4x cheaper than normal
        img += np.float32(spec.texture) * (blotches + stripes[..., None] + noise)
    img = cv2.resize(np.clip(img, 0, 255).astype(np.uint8), (full_width, full_height), interpolation=cv2.INTER_LINEAR)
    height, width = full_height, full_width
    for _ in range(spec.clutter):  # thin strokes: edges that are not objects
        color = tuple(int(v) for v in rng.integers(0, 256, 3))
        thickness = int(rng.integers(1, 3))
        if rng.random() < 0.5:
            pts = rng.uniform(0, 1, (int(rng.integers(2, 5)), 2)) * (width, height)
            cv2.polylines(img, [pts.astype(np.int32)], False, color, thickness, cv2.LINE_AA)
        else:
            center = (int(rng.uniform(0, width)), int(rng.uniform(0, height)))
            axes = (int(rng.uniform(10, width / 3)), int(rng.uniform(10, height / 3)))
            start = rng.uniform(0, 360)
            cv2.ellipse(
                img,
                center,
                axes,
                rng.uniform(0, 180),
                start,
                start + rng.uniform(40, 200),
                color,
                thickness,
                cv2.LINE_AA,
            )
    return img


def render_image(rng: np.random.Generator, spec: SyntheticSpec = SyntheticSpec()):
    """One synthetic image: ``(RGB uint8 [H, W, 3], boxes float32 [N, 4] xyxy, labels int64 [N] in 1..K)``."""
    height, width = (int(v) for v in rng.integers(spec.min_side, spec.max_side + 1, 2))
    image = _background(rng, height, width, spec)
    short = min(height, width)
    # owner[y, x] = index of the topmost shape at the pixel, -1 for background.
    owner = np.full((height, width), -1, dtype=np.int16)
    areas, visible, labels, colors = [], [], [], []
    count = int(rng.integers(spec.min_objects, spec.max_objects + 1))
    for _ in range(count):
        for _attempt in range(30):
            label = int(rng.integers(len(spec.classes)))
            radius = rng.uniform(spec.min_size, spec.max_size) * short / 2
            if rng.random() < spec.truncation_prob:  # centre within one radius of a border
                edge, depth = int(rng.integers(4)), rng.uniform(0.1, 0.9) * radius
                if edge < 2:
                    cx, cy = (depth if edge == 0 else width - depth), rng.uniform(0, height)
                else:
                    cx, cy = rng.uniform(0, width), (depth if edge == 2 else height - depth)
            else:
                cx = rng.uniform(radius, max(width - radius, radius + 1))
                cy = rng.uniform(radius, max(height - radius, radius + 1))
            mask = _draw_mask(spec.classes[label], height, width, cx, cy, radius, rng.uniform(0, 2 * np.pi))
            area = int(np.count_nonzero(mask))
            if area < 64:
                continue
            # pixels of each earlier shape that the new one would hide
            hidden = np.bincount(owner[mask] + 1, minlength=len(areas) + 1)[1:]
            left = np.asarray(visible, dtype=np.int64) - hidden
            if len(areas) and (1 - left / np.asarray(areas)).max() > spec.max_occlusion:
                continue
            owner[mask] = len(areas)
            areas.append(area)
            visible = list(left) + [area]
            labels.append(label + 1)
            colors.append(_contrasting_color(rng, image, mask))
            break
    boxes = []
    for i in range(len(areas)):
        x, y, w, h = cv2.boundingRect((owner == i).view(np.uint8))
        boxes.append([x, y, x + w, y + h])  # continuous pixel edges of the visible pixels
    if areas:
        shade = rng.uniform(0.75, 1.0, (len(areas), 1))
        palette = np.clip(np.asarray(colors) * shade, 0, 255).astype(np.uint8)
        shapes = owner >= 0
        image[shapes] = palette[owner[shapes]]
    if spec.texture > 0:  # sensor-like noise over everything, shapes included: a window of a fixed tile
        oy, ox = (int(v) for v in rng.integers(0, _NOISE_TILE.shape[0] - max(height, width), 2))
        noisy = image.astype(np.int16) + _NOISE_TILE[oy : oy + height, ox : ox + width]
        image = np.clip(noisy, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        image = cv2.GaussianBlur(image, (3, 3), 0)
    return (image, np.asarray(boxes, dtype=np.float32).reshape(-1, 4), np.asarray(labels, dtype=np.int64))


def _contrasting_color(rng: np.random.Generator, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A random colour far enough from the background under ``mask`` to keep the shape visible."""
    local = np.asarray(cv2.mean(image, mask=mask.view(np.uint8))[:3])
    for _ in range(10):
        color = rng.integers(0, 256, 3).astype(np.float64)
        if np.abs(color - local).sum() >= 150:
            return color
    return np.zeros(3) if local.mean() > 127 else np.full(3, 255.0)


def _rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, _SPLITS[split], index])


def _write_jpeg(path: str, image: np.ndarray, quality: int) -> None:
    if not cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise OSError(f"could not write {path}")


def _voc_xml(
    file_name: str, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, classes: tuple[str, ...]
) -> ET.ElementTree:
    objects = [(classes[label - 1], box, False) for box, label in zip(boxes.tolist(), labels.tolist(), strict=True)]
    return voc_xml(file_name, width=image.shape[1], height=image.shape[0], objects=objects)


def write_voc(out_dir: str, *, train: int, test: int, seed: int = 0, spec: SyntheticSpec = SyntheticSpec()) -> None:
    """Write a VOC-layout dataset: splits ``trainval`` (``train`` images) and ``test``, plus classes.txt."""
    for sub in ("JPEGImages", "Annotations", os.path.join("ImageSets", "Main")):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
    with open(os.path.join(out_dir, "classes.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(spec.classes) + "\n")
    for split, count, list_name in (("train", train, "trainval"), ("test", test, "test")):
        ids = []
        for k in range(count):
            image_id = f"{split}_{k:06d}"
            image, boxes, labels = render_image(_rng(seed, split, k), spec)
            _write_jpeg(os.path.join(out_dir, "JPEGImages", f"{image_id}.jpg"), image, spec.jpeg_quality)
            _voc_xml(f"{image_id}.jpg", image, boxes, labels, spec.classes).write(
                os.path.join(out_dir, "Annotations", f"{image_id}.xml")
            )
            ids.append(image_id)
        with open(os.path.join(out_dir, "ImageSets", "Main", f"{list_name}.txt"), "w", encoding="utf-8") as f:
            f.write("".join(f"{i}\n" for i in ids))
    logger.info("wrote VOC synthetic dataset to %s (%d trainval, %d test)", out_dir, train, test)


def write_coco(out_dir: str, *, train: int, test: int, seed: int = 0, spec: SyntheticSpec = SyntheticSpec()) -> None:
    """Write a COCO-layout dataset: ``train/``, ``test/`` and ``annotations/instances_{train,test}.json``."""
    os.makedirs(os.path.join(out_dir, "annotations"), exist_ok=True)
    categories = [{"id": 10 * (i + 1), "name": n, "supercategory": "shape"} for i, n in enumerate(spec.classes)]
    for split, count in (("train", train), ("test", test)):
        os.makedirs(os.path.join(out_dir, split), exist_ok=True)
        images, annotations = [], []
        for k in range(count):
            image, boxes, labels = render_image(_rng(seed, split, k), spec)
            file_name = f"{split}_{k:06d}.jpg"
            _write_jpeg(os.path.join(out_dir, split, file_name), image, spec.jpeg_quality)
            images.append({"id": k + 1, "file_name": file_name, "height": image.shape[0], "width": image.shape[1]})
            for box, label in zip(boxes.tolist(), labels.tolist(), strict=False):
                x1, y1, x2, y2 = box
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": k + 1,
                        "category_id": 10 * label,
                        "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "area": (x2 - x1) * (y2 - y1),
                        "iscrowd": 0,
                        "segmentation": [[x1, y1, x2, y1, x2, y2, x1, y2]],
                    }
                )
        with open(os.path.join(out_dir, "annotations", f"instances_{split}.json"), "w", encoding="utf-8") as f:
            json.dump({"images": images, "annotations": annotations, "categories": categories}, f)
    logger.info("wrote COCO synthetic dataset to %s (%d train, %d test)", out_dir, train, test)


def write_yolo(out_dir: str, *, train: int, test: int, seed: int = 0, spec: SyntheticSpec = SyntheticSpec()) -> None:
    """Write a YOLO-layout dataset: ``images/{train,val}/``, ``labels/{train,val}/`` and ``data.yaml``."""
    for split, count, folder in (("train", train, "train"), ("test", test, "val")):
        image_dir, label_dir = os.path.join(out_dir, "images", folder), os.path.join(out_dir, "labels", folder)
        os.makedirs(image_dir, exist_ok=True)
        os.makedirs(label_dir, exist_ok=True)
        for k in range(count):
            image, boxes, labels = render_image(_rng(seed, split, k), spec)
            stem = f"{split}_{k:06d}"
            _write_jpeg(os.path.join(image_dir, f"{stem}.jpg"), image, spec.jpeg_quality)
            lines = yolo_label_lines(boxes, labels, width=image.shape[1], height=image.shape[0])
            with open(os.path.join(label_dir, f"{stem}.txt"), "w", encoding="utf-8") as f:
                f.write("".join(lines))
        write_yolo_data_yaml(out_dir, spec.classes, folder)
    logger.info("wrote YOLO synthetic dataset to %s (%d train, %d val)", out_dir, train, test)


def write_demo_images(
    out_dir: str, *, count: int = 6, seed: int = 0, spec: SyntheticSpec = SyntheticSpec()
) -> list[str]:
    """Write ``count`` plain JPEGs (no annotations) for the demo tool; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for k in range(count):
        image, _, _ = render_image(_rng(seed, "demo", k), spec)
        paths.append(os.path.join(out_dir, f"demo_{k:03d}.jpg"))
        _write_jpeg(paths[-1], image, spec.jpeg_quality)
    return paths


def spec_for(difficulty: str = "medium", **overrides) -> SyntheticSpec:
    """A named difficulty (``easy``, ``medium``, ``hard``) with some knobs overridden."""
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty = {difficulty!r}; expected one of {list(DIFFICULTIES)}")
    return replace(DIFFICULTIES[difficulty], **{k: v for k, v in overrides.items() if v is not None})
