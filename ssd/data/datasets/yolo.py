"""YOLO format: an image folder and one ``labels/<stem>.txt`` per image (Ultralytics / darknet layout).

A label line is ``class cx cy w h`` with the centre and size normalised by the image width and
height (Ultralytics' detection format), or ``class x1 y1 x2 y2 ... xk yk`` (k >= 3, its segment
format), whose box is the polygon's bounding box. ``class`` is the 0-based index in the class list,
so label = class + 1. Boxes become continuous xyxy pixels (``x1 = (cx - w / 2) * width``, see
:mod:`ssd.data.boxes`), clipped or dropped with a warning by :func:`~ssd.data.boxes.sanitize_boxes`.

Layout: ``IMAGES`` is a folder of images (``.jpg .jpeg .png .bmp .webp .tif .tiff``, not recursive);
``LABELS`` defaults to Ultralytics' rule, the image folder with its last ``images`` component
replaced by ``labels`` (``data/images/train`` -> ``data/labels/train``), or the image folder itself
when its path has no ``images`` component (darknet: ``a.jpg`` beside ``a.txt``). An image without a
label file, or with an empty one, is a background image (Ultralytics' convention); an image whose
size cannot be read raises :class:`~ssd.data.image_io.CorruptImageError` naming it, or is left out
with a warning under ``skip_corrupt`` (INPUT.SKIP_CORRUPT_IMAGES). Class names come
from ``CLASSES`` or, by default, from a ``data.yaml`` / ``dataset.yaml`` (``names``) or a
``classes.txt`` / ``obj.names`` found in the image folder, its parent or its grandparent.

Image ids are ``1..N`` in file-name order. The dataset also carries ``coco``, its ground truth as
an in-memory pycocotools COCO with category id = label = class + 1, so TEST.EVALUATOR ``auto``
evaluates it with COCO metrics and ``detections.json`` uses those ids.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import numpy as np

from ..boxes import sanitize_boxes
from ..class_names import load_class_names
from ..formats import DatasetFormat, register_format
from ..image_io import CorruptImageError, read_image_size
from .base import DetectionDataset, ImageRecord, Transform
from .coco import coco_dict_from_records, coco_from_dict

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
CLASS_FILES = ("data.yaml", "dataset.yaml", "classes.txt", "obj.names")  # looked for, in this order


def default_labels_dir(images: str) -> str:
    """Ultralytics' ``img2label_paths`` rule applied to a folder (see the module docstring)."""
    parts = os.path.normpath(images).split(os.sep)
    if "images" not in parts:
        return images
    k = len(parts) - 1 - parts[::-1].index("images")
    return os.sep.join(parts[:k] + ["labels"] + parts[k + 1 :])


def find_class_file(images: str) -> str | None:
    """The first of :data:`CLASS_FILES` in the image folder, its parent, then its grandparent."""
    parent = os.path.dirname(os.path.normpath(images))
    for folder in (images, parent, os.path.dirname(parent)):
        for name in CLASS_FILES:
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                return path
    return None


def yolo_class_names(images: str) -> list[str]:
    """Class names of a YOLO folder from its class file; ``FileNotFoundError`` saying where it looked."""
    path = find_class_file(images)
    if path is None:
        parent = os.path.dirname(os.path.normpath(images))
        raise FileNotFoundError(
            f"YOLO dataset {images}: no class names; set CLASSES (a list, a names file or a data.yaml) or put "
            f"one of {list(CLASS_FILES)} in {images}, {parent} or {os.path.dirname(parent)}"
        )
    return load_class_names(path)


def parse_yolo_labels(label_path: str, *, width: int, height: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Read one label file: ``(boxes float32 [N, 4] xyxy pixels, labels int64 [N] in 1..K)``.

    Raises ``ValueError`` naming the file and line for a malformed line or a class index outside
    ``0..num_classes - 1``. Boxes are not yet validated against the image (see ``sanitize_boxes``).
    """
    boxes, labels = [], []
    with open(label_path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for number, line in enumerate(lines, start=1):
        tokens = line.split()
        if not tokens:
            continue
        where = f"{label_path}:{number}"
        if len(tokens) != 5 and (len(tokens) < 7 or len(tokens) % 2 == 0):
            raise ValueError(
                f"{where}: {len(tokens)} values in {line.strip()!r}; expected 'class cx cy w h' (5) or a polygon "
                "'class x1 y1 ... xk yk' (k >= 3)"
            )
        try:
            cls = float(tokens[0])
            values = np.array([float(t) for t in tokens[1:]], dtype=np.float64)
        except ValueError as e:
            raise ValueError(f"{where}: not numbers: {line.strip()!r}") from e
        if cls != int(cls) or not 0 <= cls < num_classes:
            raise ValueError(
                f"{where}: class {tokens[0]} is not an index of the {num_classes} classes (0..{num_classes - 1})"
            )
        if len(tokens) == 5:
            cx, cy, w, h = values
            box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
        else:
            xs, ys = values[0::2], values[1::2]
            box = [xs.min(), ys.min(), xs.max(), ys.max()]
        boxes.append(np.array(box) * [width, height, width, height])
        labels.append(int(cls) + 1)
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4), np.asarray(labels, dtype=np.int64)


def list_images(images: str) -> list[str]:
    """Image files of a folder (by suffix, case-insensitive), sorted by name."""
    if not os.path.isdir(images):
        raise FileNotFoundError(f"YOLO image folder not found: {images}")
    return sorted(n for n in os.listdir(images) if n.lower().endswith(IMAGE_SUFFIXES))


class YOLODataset(DetectionDataset):
    """A YOLO-format folder (see the module docstring); ``image_id`` is ``1..N`` in file-name order."""

    format_name = "yolo"

    def __init__(
        self,
        *,
        images: str,
        labels: str | None = None,
        class_names: Sequence[str] | None = None,
        transform: Transform | None = None,
        training: bool = False,
        keep_empty: bool = True,
        skip_corrupt: bool = False,
    ) -> None:
        self.images_dir = images
        self.labels_dir = labels or default_labels_dir(images)
        class_names = list(class_names) if class_names is not None else yolo_class_names(images)
        names = list_images(images)
        if not names:
            raise FileNotFoundError(f"YOLO image folder {images} has no images ({', '.join(IMAGE_SUFFIXES)})")
        stems = [os.path.splitext(n)[0] for n in names]
        duplicates = sorted({s for s in stems if stems.count(s) > 1})
        if duplicates:
            raise ValueError(f"YOLO image folder {images}: several images share a label file name: {duplicates[:5]}")
        label_files = set(os.listdir(self.labels_dir)) if os.path.isdir(self.labels_dir) else set()
        orphans = sorted(label_files - {f"{s}.txt" for s in stems} - {"classes.txt"})
        orphans = [o for o in orphans if o.endswith(".txt")]
        if orphans:
            logger.warning(
                "%s: %d label files have no image in %s (%s); ignored",
                self.labels_dir,
                len(orphans),
                images,
                ", ".join(orphans[:5]) + (", ..." if len(orphans) > 5 else ""),
            )
        records, unlabelled = [], 0
        for image_id, (name, stem) in enumerate(zip(names, stems, strict=True), start=1):
            path = os.path.join(images, name)
            try:
                height, width = read_image_size(path)
            except CorruptImageError as e:
                if not skip_corrupt:
                    raise
                logger.warning("%s; left out (INPUT.SKIP_CORRUPT_IMAGES)", e)
                continue
            label_path = os.path.join(self.labels_dir, f"{stem}.txt")
            if f"{stem}.txt" in label_files:
                boxes, labels = parse_yolo_labels(label_path, width=width, height=height, num_classes=len(class_names))
            else:
                boxes, labels = np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
                unlabelled += 1
            keep = sanitize_boxes(
                boxes, width=width, height=height, source=label_path, names=[class_names[i - 1] for i in labels]
            )
            records.append(
                ImageRecord(path, image_id, height, width, boxes[keep], labels[keep], np.zeros(keep.sum(), bool))
            )
        if unlabelled:
            logger.info("%s: %d of %d images have no label file (background images)", images, unlabelled, len(names))
        self.label_to_category_id = {label: label for label in range(1, len(class_names) + 1)}
        self.coco = coco_from_dict(
            coco_dict_from_records(records, class_names, category_ids=self.label_to_category_id, image_root=images)
        )
        super().__init__(
            records=records,
            class_names=class_names,
            transform=transform,
            training=training,
            keep_difficult=False,
            keep_empty=keep_empty,
            skip_corrupt=skip_corrupt,
        )


def _build_yolo(paths: Mapping[str, str], *, class_names: Sequence[str] | None, keep_difficult: bool,
                allow_outside_root: bool = False, **common):
    # allow_outside_root: YOLO lists the image folder itself; nothing to allow
    # YOLO labels have no difficult flag: keep_difficult has nothing to act on.
    return YOLODataset(images=paths["IMAGES"], labels=paths.get("LABELS"), class_names=class_names, **common)


YOLO_FORMAT = register_format(
    DatasetFormat(
        name="yolo",
        required_keys=("IMAGES",),
        optional_keys=("LABELS",),
        path_keys=("IMAGES", "LABELS"),
        evaluator_kind="coco",
        build=_build_yolo,
        default_class_names=lambda paths: yolo_class_names(paths["IMAGES"]),
        description="{FORMAT: yolo, IMAGES: <image folder>[, LABELS: <label folder>][, CLASSES: data.yaml]}",
    )
)
