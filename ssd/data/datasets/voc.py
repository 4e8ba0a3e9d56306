"""Pascal VOC format: ``<root>/{JPEGImages, Annotations, ImageSets/Main/<split>.txt}``.

VOC's 1-based inclusive corners become continuous xyxy pixels (see :mod:`ssd.data.boxes`).
Objects flagged ``<difficult>1</difficult>`` are kept in :meth:`get_annotation` (flagged, for the
evaluator) and left out of training targets unless ``keep_difficult``.
"""

from __future__ import annotations

import logging
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

import numpy as np

from ..boxes import sanitize_boxes, voc_to_xyxy
from ..class_names import load_class_names
from ..formats import DatasetFormat, register_format
from ..image_io import read_image_size
from .base import DetectionDataset, ImageRecord, Transform, check_files_exist, check_inside_root

logger = logging.getLogger(__name__)

VOC_CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)


def read_split(split_file: str) -> list[str]:
    """Image ids of ``ImageSets/Main/<split>.txt`` (first token of each non-empty line)."""
    if not os.path.isfile(split_file):
        raise FileNotFoundError(f"VOC split file not found: {split_file}")
    with open(split_file, encoding="utf-8") as f:
        return [line.split()[0] for line in f if line.strip()]


def parse_voc_xml(xml_path: str, *, class_names: Sequence[str]) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """Parse one VOC annotation file.

    Returns ``(meta, boxes float32 [N, 4] xyxy, labels int64 [N] in 1..K, difficult bool [N])`` with
    ``meta = {"filename": str | None, "width": int | None, "height": int | None}``. Boxes are not yet
    validated against the image size (see :func:`ssd.data.boxes.sanitize_boxes`).
    Raises ``ValueError`` naming the file for unknown class names and malformed objects.
    """
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as e:
        raise ValueError(f"{xml_path}: invalid XML: {e}") from e
    label_of = {name: i + 1 for i, name in enumerate(class_names)}
    size = root.find("size")
    meta = {
        "filename": (root.findtext("filename") or "").strip() or None,
        "width": int(float(size.findtext("width"))) if size is not None and size.findtext("width") else None,
        "height": int(float(size.findtext("height"))) if size is not None and size.findtext("height") else None,
    }
    boxes, labels, difficult = [], [], []
    for i, obj in enumerate(root.iter("object")):
        name = (obj.findtext("name") or "").strip()
        if name not in label_of:
            raise ValueError(
                f"{xml_path}: object {i} has class {name!r}, which is not in the class list {list(class_names)}; "
                "give the dataset's classes (DATASETS.CLASSES, --classes FILE, or a classes.txt in its ROOT)"
            )
        bnd = obj.find("bndbox")
        try:
            corners = [float(bnd.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]
        except (AttributeError, TypeError, ValueError) as e:
            raise ValueError(f"{xml_path}: object {i} ({name!r}) has no valid <bndbox>: {e}") from e
        boxes.append(voc_to_xyxy(*corners))
        labels.append(label_of[name])
        difficult.append((obj.findtext("difficult") or "0").strip() == "1")
    return (
        meta,
        np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        np.asarray(labels, dtype=np.int64),
        np.asarray(difficult, dtype=bool),
    )


class VOCDataset(DetectionDataset):
    """A VOC-layout dataset; ``image_id`` is the id string of the split file (``"000005"``)."""

    format_name = "voc"

    def __init__(
        self,
        *,
        root: str,
        split: str,
        class_names: Sequence[str] = VOC_CLASSES,
        transform: Transform | None = None,
        training: bool = False,
        keep_difficult: bool = False,
        keep_empty: bool = True,
        skip_corrupt: bool = False,
        allow_outside_root: bool = False,
    ) -> None:
        self.root, self.split = root, split
        split_file = os.path.join(root, "ImageSets", "Main", f"{split}.txt")
        ids = read_split(split_file)
        for i in ids:  # an id like ../../x would read Annotations/JPEGImages files outside root, as COCO names would
            check_inside_root(os.path.join(root, "Annotations"), i, source=split_file,
                              allow_outside_root=allow_outside_root)
        ann_dir, img_dir = os.path.join(root, "Annotations"), os.path.join(root, "JPEGImages")
        ann_paths = [os.path.join(ann_dir, f"{i}.xml") for i in ids]
        check_files_exist(ann_paths, what="annotation files", source=split_file, exists=_lister(ann_dir))
        img_exists = _lister(img_dir)
        parsed, img_paths = [], []
        for image_id, ann_path in zip(ids, ann_paths, strict=False):
            meta, boxes, labels, difficult = parse_voc_xml(ann_path, class_names=class_names)
            img_path = os.path.join(img_dir, f"{image_id}.jpg")
            if not img_exists(img_path) and meta["filename"]:
                img_path = os.path.join(img_dir, meta["filename"])
            parsed.append((image_id, ann_path, meta, boxes, labels, difficult))
            img_paths.append(img_path)
        check_files_exist(img_paths, what="images", source=split_file, exists=img_exists)

        records = []
        for (image_id, ann_path, meta, boxes, labels, difficult), img_path in zip(parsed, img_paths, strict=False):
            width, height = meta["width"], meta["height"]
            if not width or not height:  # some hand-made XML omit <size>: read it from the image
                height, width = read_image_size(img_path)
            names = [class_names[int(label) - 1] for label in labels]
            keep = sanitize_boxes(boxes, width=width, height=height, source=ann_path, names=names)
            records.append(ImageRecord(img_path, image_id, height, width, boxes[keep], labels[keep], difficult[keep]))
        super().__init__(
            records=records,
            class_names=list(class_names),
            transform=transform,
            training=training,
            keep_difficult=keep_difficult,
            keep_empty=keep_empty,
            skip_corrupt=skip_corrupt,
        )


def _lister(folder: str):
    """A fast ``exists`` for many files of one folder: one ``listdir`` instead of a ``stat`` each."""
    names = set(os.listdir(folder)) if os.path.isdir(folder) else set()

    def exists(path: str) -> bool:
        return os.path.dirname(path) == folder and os.path.basename(path) in names or os.path.isfile(path)

    return exists


def voc_default_class_names(root: str) -> list[str]:
    """``root/classes.txt`` (one name a line, as the writers and the synthetic sets leave it) when
    present, else the 20 PASCAL VOC classes."""
    path = os.path.join(root, "classes.txt")
    return load_class_names(path) if os.path.isfile(path) else list(VOC_CLASSES)


def _build_voc(paths: Mapping[str, str], *, class_names: Sequence[str] | None, allow_outside_root: bool = False,
               **common) -> VOCDataset:
    return VOCDataset(root=paths["ROOT"], split=paths["SPLIT"], allow_outside_root=allow_outside_root,
                      class_names=class_names or voc_default_class_names(paths["ROOT"]), **common)


VOC_FORMAT = register_format(
    DatasetFormat(
        name="voc",
        required_keys=("ROOT", "SPLIT"),
        path_keys=("ROOT",),
        evaluator_kind="voc",
        build=_build_voc,
        default_class_names=lambda paths: voc_default_class_names(paths["ROOT"]),
        description="{FORMAT: voc, ROOT: <folder with JPEGImages, Annotations, ImageSets>, SPLIT: trainval}",
    )
)
