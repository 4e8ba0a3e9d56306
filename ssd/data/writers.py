"""Writing parsed records back to disk as COCO, VOC or YOLO (``tools/data.py convert``).

Input is what any dataset of :mod:`ssd.data.datasets` holds: :class:`~ssd.data.datasets.ImageRecord`
objects (boxes xyxy float32 in continuous pixels, labels ``1..K``, difficult / crowd flags) and the
class list. Images are hard-linked into the output when the file system allows it, else copied.

What each target keeps (reading the output back gives the same records except as stated):

* COCO: everything; boxes as floats; a difficult (VOC) object becomes ``iscrowd: 1``.
* VOC: boxes rounded to whole pixels (VOC's 1-based inclusive corners ``xmin = x1 + 1``,
  ``xmax = x2``); crowd objects become ``difficult``.
* YOLO: boxes normalised with 6 decimals (Ultralytics' precision, about 1e-6 of a side);
  difficult / crowd objects are left out, as Ultralytics' VOC converter does.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

import yaml

from .class_names import load_class_names
from .datasets import ImageRecord, coco_dict_from_records

logger = logging.getLogger(__name__)

__all__ = [
    "voc_xml",
    "write_coco_dataset",
    "write_voc_dataset",
    "write_yolo_data_yaml",
    "write_yolo_dataset",
    "yolo_label_lines",
]


def _place_image(src: str, dst: str) -> None:
    if os.path.exists(dst):
        if os.path.samefile(src, dst):
            return
        raise FileExistsError(f"{dst} already exists (writing {src}); choose an empty output folder")
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _unique_stems(records: Sequence[ImageRecord]) -> list[str]:
    """The images' base names without extension (VOC ids, YOLO label names); ``ValueError`` naming
    the clashing files before anything is written when two share one (this flat layout cannot
    hold both; COCO can)."""
    stems = [os.path.splitext(os.path.basename(r.path))[0] for r in records]
    seen: dict[str, str] = {}
    for stem, r in zip(stems, records, strict=True):
        if stem in seen:
            raise ValueError(f"{seen[stem]} and {r.path} share the name {stem!r}, which this flat layout cannot "
                             "hold: rename one, or convert --to coco (it keeps subfolders)")
        seen[stem] = r.path
    return stems


def _check_class_list(path: str, class_names: Sequence[str]) -> None:
    """A second split written into the same folder must have the same classes."""
    if os.path.isfile(path) and load_class_names(path) != list(class_names):
        raise ValueError(
            f"{path} lists classes {load_class_names(path)}, not {list(class_names)}; choose another output folder"
        )


def write_coco_dataset(
    records: Sequence[ImageRecord],
    class_names: Sequence[str],
    out_dir: str,
    *,
    split: str = "train",
    category_ids: Mapping[int, int] | None = None,
) -> str:
    """Write ``out_dir/<split>/<image>`` and ``out_dir/annotations/instances_<split>.json``; returns the JSON path.

    Images keep their paths relative to the folder the inputs share (``file_name`` may hold
    subfolders), so ``a/x.jpg`` and ``b/x.jpg`` stay two images. ``category_ids``: label ->
    category id (default: the label).
    """
    image_dir = os.path.join(out_dir, split)
    root = os.path.commonpath([os.path.dirname(os.path.abspath(r.path)) for r in records]) if records else ""
    os.makedirs(image_dir, exist_ok=True)
    os.makedirs(os.path.join(out_dir, "annotations"), exist_ok=True)
    for r in records:
        target = os.path.join(image_dir, os.path.relpath(os.path.abspath(r.path), root))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        _place_image(r.path, target)
    data = coco_dict_from_records(records, class_names, category_ids=category_ids, image_root=root or None)
    path = os.path.join(out_dir, "annotations", f"instances_{split}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)
    logger.info("wrote COCO %s: %d images, %d objects", path, len(data["images"]), len(data["annotations"]))
    return path


def voc_xml(
    file_name: str, *, width: int, height: int, objects: Sequence[tuple[str, Sequence[float], bool]]
) -> ET.ElementTree:
    """A VOC annotation tree; ``objects`` are ``(class name, xyxy continuous pixels, difficult)``."""
    root = ET.Element("annotation")
    ET.SubElement(root, "filename").text = file_name
    size = ET.SubElement(root, "size")
    for key, value in (("width", width), ("height", height), ("depth", 3)):
        ET.SubElement(size, key).text = str(value)
    for name, box, difficult in objects:
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = name
        ET.SubElement(obj, "pose").text = "Unspecified"
        truncated = box[0] <= 0 or box[1] <= 0 or box[2] >= width or box[3] >= height
        ET.SubElement(obj, "truncated").text = str(int(truncated))
        ET.SubElement(obj, "difficult").text = str(int(difficult))
        bnd = ET.SubElement(obj, "bndbox")
        # continuous [x1, x2) -> VOC 1-based inclusive: xmin = x1 + 1, xmax = x2 (see ssd.data.boxes)
        corners = (round(box[0]) + 1, round(box[1]) + 1, round(box[2]), round(box[3]))
        for key, value in zip(("xmin", "ymin", "xmax", "ymax"), corners, strict=True):
            ET.SubElement(bnd, key).text = str(int(value))
    ET.indent(root)
    return ET.ElementTree(root)


def write_voc_dataset(
    records: Sequence[ImageRecord], class_names: Sequence[str], out_dir: str, *, split: str = "trainval"
) -> str:
    """Write ``JPEGImages/``, ``Annotations/``, ``ImageSets/Main/<split>.txt`` and ``classes.txt``.

    The VOC id of an image is its file name without extension. Returns the split file path.
    """
    stems = _unique_stems(records)
    for sub in ("JPEGImages", "Annotations", os.path.join("ImageSets", "Main")):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
    classes_file = os.path.join(out_dir, "classes.txt")
    _check_class_list(classes_file, class_names)
    with open(classes_file, "w", encoding="utf-8") as f:
        f.write("".join(f"{n}\n" for n in class_names))
    for r, stem in zip(records, stems, strict=True):
        file_name = os.path.basename(r.path)
        _place_image(r.path, os.path.join(out_dir, "JPEGImages", file_name))
        objects = [
            (class_names[label - 1], box, difficult)
            for box, label, difficult in zip(r.boxes.tolist(), r.labels.tolist(), r.difficult.tolist(), strict=True)
        ]
        tree = voc_xml(file_name, width=r.width, height=r.height, objects=objects)
        tree.write(os.path.join(out_dir, "Annotations", f"{stem}.xml"))
    split_file = os.path.join(out_dir, "ImageSets", "Main", f"{split}.txt")
    with open(split_file, "w", encoding="utf-8") as f:
        f.write("".join(f"{s}\n" for s in stems))
    logger.info("wrote VOC %s: %d images", split_file, len(records))
    return split_file


def yolo_label_lines(boxes, labels, *, width: int, height: int) -> list[str]:
    """YOLO label lines ``"class cx cy w h\\n"`` (class = label - 1, normalised, 6 decimals) of xyxy pixel boxes."""
    lines = []
    for box, label in zip(boxes.tolist(), labels.tolist(), strict=True):
        cx, cy = (box[0] + box[2]) / 2 / width, (box[1] + box[3]) / 2 / height
        w, h = (box[2] - box[0]) / width, (box[3] - box[1]) / height
        lines.append(f"{label - 1} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
    return lines


def write_yolo_data_yaml(out_dir: str, class_names: Sequence[str], split: str) -> str:
    """Write (or add ``split`` to) ``out_dir/data.yaml``: ``path``, ``names`` and ``<split>: images/<split>``."""
    data_yaml = os.path.join(out_dir, "data.yaml")
    _check_class_list(data_yaml, class_names)
    data = {"path": ".", "names": dict(enumerate(class_names))}
    if os.path.isfile(data_yaml):
        with open(data_yaml, encoding="utf-8") as f:
            data = {**yaml.safe_load(f), **data}
    data[split] = f"images/{split}"
    with open(data_yaml, "w", encoding="utf-8") as f:
        yaml.safe_dump(data, f, sort_keys=False)
    return data_yaml


def write_yolo_dataset(
    records: Sequence[ImageRecord], class_names: Sequence[str], out_dir: str, *, split: str = "train"
) -> str:
    """Write ``images/<split>/``, ``labels/<split>/<stem>.txt`` and ``data.yaml`` (``names``, the split).

    Returns the image folder (the catalog's ``IMAGES``).
    """
    stems = _unique_stems(records)
    image_dir, label_dir = os.path.join(out_dir, "images", split), os.path.join(out_dir, "labels", split)
    os.makedirs(image_dir, exist_ok=True)
    os.makedirs(label_dir, exist_ok=True)
    write_yolo_data_yaml(out_dir, class_names, split)
    left_out = 0
    for r, stem in zip(records, stems, strict=True):
        _place_image(r.path, os.path.join(image_dir, os.path.basename(r.path)))
        lines = yolo_label_lines(r.boxes[~r.difficult], r.labels[~r.difficult], width=r.width, height=r.height)
        left_out += int(r.difficult.sum())
        with open(os.path.join(label_dir, f"{stem}.txt"), "w", encoding="utf-8") as f:
            f.write("".join(lines))
    if left_out:
        logger.info("YOLO has no difficult flag: %d difficult / crowd objects left out", left_out)
    logger.info("wrote YOLO %s: %d images", image_dir, len(records))
    return image_dir
