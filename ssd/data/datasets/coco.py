"""COCO format: an instances JSON plus an image folder.

Category ids (arbitrary, possibly non-contiguous) map to contiguous labels ``1..K`` in the order
of the class list (by default the JSON's categories sorted by id), and back through
``label_to_category_id`` for results files. ``[x, y, w, h]`` becomes xyxy (see
:mod:`ssd.data.boxes`). ``iscrowd`` objects are never training targets: they are kept in
:meth:`get_annotation` with ``difficult=True`` so evaluators can ignore them. Images without
annotations are kept for evaluation and, with ``keep_empty``, for training as background.
A ``file_name`` that is absolute or climbs out of the image folder (``../x.jpg``) is refused unless
``allow_outside_root`` (DATASETS.ALLOW_OUTSIDE_ROOT): a downloaded annotation file should not make
training read, and visualisation grids show, files from elsewhere on the machine.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from collections.abc import Mapping, Sequence

import numpy as np
from pycocotools.coco import COCO

from ..boxes import coco_xywh_to_xyxy, sanitize_boxes
from ..formats import DatasetFormat, register_format
from ..image_io import read_image_size
from .base import DetectionDataset, ImageRecord, Transform, check_files_exist, check_inside_root
from .voc import _lister

logger = logging.getLogger(__name__)


def _read_json(annotation_file: str) -> dict:
    if not os.path.isfile(annotation_file):
        raise FileNotFoundError(f"COCO annotation file not found: {annotation_file}")
    try:
        with open(annotation_file, encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{annotation_file}: not a valid JSON file: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError(f"{annotation_file}: not a COCO instances file (no 'images' list at the top level)")
    return data


def _integer_id(value, *, what: str, source: str) -> int:
    """A COCO id: an int (an integral float is accepted); anything else raises ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ValueError(f"{source}: {what} = {value!r} is not an integer; COCO ids must be integers")
    return int(value)


def _categories(data: dict, source: str) -> list[dict]:
    categories = data.get("categories")
    if not isinstance(categories, list) or not categories:
        raise ValueError(f"{source}: no 'categories' list; a COCO instances file names its categories")
    out = []
    for i, c in enumerate(categories):
        if not isinstance(c, dict) or "id" not in c or "name" not in c:
            raise ValueError(f"{source}: category {i} ({c!r}) needs an 'id' and a 'name'")
        out.append({**c, "id": _integer_id(c["id"], what=f"category {i} id", source=source), "name": str(c["name"])})
    return out


def _what(i: int, a: dict) -> str:
    return f"annotation {i}" + (f" (id {a['id']})" if "id" in a else "")


def _shown(ids: list) -> str:
    return ", ".join(str(i) for i in ids[:5]) + (", ..." if len(ids) > 5 else "")


def check_coco_dict(data: dict, *, source: str, image_dir: str | None = None,
                    allow_outside_root: bool = False) -> dict:
    """Validate a COCO instances dict and fill the defaults pycocotools needs; returns a new dict.

    Filled: ``iscrowd`` 0, ``area`` = box width x height, annotation ``id`` (numbered after the
    largest given), and an image's ``width`` / ``height`` read from its file in ``image_dir``.
    Raises ``ValueError`` naming ``source`` for what cannot be defaulted: non-integer image, category
    or annotation ids, duplicate image ids, an image without ``file_name`` (or without a size and no
    ``image_dir``), a ``file_name`` outside ``image_dir`` (see :func:`check_inside_root`), an
    annotation without a 4-number ``bbox`` or without ``category_id``.
    Annotations whose image or category does not exist are dropped with a warning giving their
    count and first ids.
    """
    categories = _categories(data, source)
    images, seen = [], set()
    for i, info in enumerate(data["images"]):
        if not isinstance(info, dict) or "id" not in info:
            raise ValueError(f"{source}: image entry {i} has no 'id'")
        image_id = _integer_id(info["id"], what=f"image {i} id", source=source)
        if image_id in seen:
            raise ValueError(f"{source}: image id {image_id} appears twice in 'images'")
        seen.add(image_id)
        if not info.get("file_name"):
            raise ValueError(f"{source}: image {image_id} has no 'file_name'")
        info = {**info, "id": image_id}
        if image_dir is not None:
            path = check_inside_root(image_dir, str(info["file_name"]), source=f"{source} (image {image_id})",
                                     allow_outside_root=allow_outside_root)
        if not info.get("width") or not info.get("height"):
            if image_dir is None:
                raise ValueError(f"{source}: image {image_id} has no width/height and no image folder to read it from")
            info["height"], info["width"] = read_image_size(path)
        images.append(info)

    category_ids = {c["id"] for c in categories}
    raw = data.get("annotations") or []
    given_ids = [a["id"] for a in raw if isinstance(a, dict) and isinstance(a.get("id"), int)]
    next_id = max(given_ids, default=0) + 1
    annotations, unknown_image, unknown_category = [], [], []
    numbers = (int, float)
    for i, a in enumerate(raw):
        if type(a) is not dict:
            raise ValueError(f"{source}: annotation {i} is not an object: {a!r}")
        bbox, image_id, category_id, ann_id = a.get("bbox"), a.get("image_id"), a.get("category_id"), a.get("id")
        # fast path: the exact types json.load gives for a well-formed file (bool is not int here)
        if not (type(bbox) in (list, tuple) and len(bbox) == 4 and all(type(v) in numbers for v in bbox)):
            raise ValueError(f"{source}: {_what(i, a)} has no valid 'bbox' [x, y, width, height]: {bbox!r}")
        bad_id = ann_id is not None and type(ann_id) is not int
        if type(image_id) is not int or type(category_id) is not int or bad_id:
            if image_id is None or category_id is None:
                raise ValueError(f"{source}: {_what(i, a)} needs an 'image_id' and a 'category_id'")
            image_id = _integer_id(image_id, what=f"{_what(i, a)} image_id", source=source)
            category_id = _integer_id(category_id, what=f"{_what(i, a)} category_id", source=source)
            if ann_id is not None:
                ann_id = _integer_id(ann_id, what=f"{_what(i, a)} id", source=source)
            a = {**a, "image_id": image_id, "category_id": category_id}
            if ann_id is not None:
                a["id"] = ann_id
        if image_id not in seen:
            unknown_image.append(image_id)
            continue
        if category_id not in category_ids:
            unknown_category.append(category_id)
            continue
        if ann_id is None or "iscrowd" not in a or a.get("area") is None:
            a = dict(a)
            if ann_id is None:
                a["id"], next_id = next_id, next_id + 1
            a.setdefault("iscrowd", 0)
            if a.get("area") is None:
                a["area"] = float(bbox[2]) * float(bbox[3])
        annotations.append(a)
    for ids, what in ((unknown_image, "image ids"), (unknown_category, "category ids")):
        if ids:
            distinct = sorted(set(ids))
            logger.warning(
                "%s: %d annotations refer to %d %s that do not exist (%s); dropped",
                source, len(ids), len(distinct), what, _shown(distinct),
            )
    return {**data, "images": images, "annotations": annotations, "categories": categories}


def load_coco(annotation_file: str, *, image_dir: str | None = None, allow_outside_root: bool = False) -> COCO:
    """pycocotools' ``COCO`` of a checked file (see :func:`check_coco_dict`), without its prints.

    ``FileNotFoundError`` for a missing file; ``ValueError`` naming the file for bad content.
    """
    data = check_coco_dict(_read_json(annotation_file), source=annotation_file, image_dir=image_dir,
                           allow_outside_root=allow_outside_root)
    return coco_from_dict(data)


def coco_from_dict(data: dict) -> COCO:
    """An indexed pycocotools ``COCO`` of an in-memory instances dict (already checked)."""
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def coco_dict_from_records(
    records: Sequence[ImageRecord],
    class_names: Sequence[str],
    *,
    category_ids: Mapping[int, int] | None = None,
    image_root: str | None = None,
) -> dict:
    """A COCO instances dict of parsed records (the inverse of reading one).

    ``category_ids`` maps label -> category id (default: the label itself); a difficult (VOC) or
    crowd object becomes ``iscrowd: 1``, the COCO region that neither counts as a miss nor penalises
    a detection. Integer ``image_id`` are kept, other ids (VOC's strings) become ``1..N``.
    ``file_name`` is relative to ``image_root`` (default: the file's base name). Boxes xyxy -> xywh.
    """
    category_ids = dict(category_ids or {i: i for i in range(1, len(class_names) + 1)})
    categories = [{"id": int(category_ids[i]), "name": str(n)} for i, n in enumerate(class_names, start=1)]
    int_ids = all(isinstance(r.image_id, (int, np.integer)) for r in records)
    images, annotations = [], []
    for k, r in enumerate(records):
        image_id = int(r.image_id) if int_ids else k + 1
        name = os.path.relpath(r.path, image_root) if image_root else os.path.basename(r.path)
        images.append({"id": image_id, "file_name": name.replace(os.sep, "/"), "height": r.height, "width": r.width})
        for box, label, difficult in zip(r.boxes.tolist(), r.labels.tolist(), r.difficult.tolist(), strict=True):
            w, h = box[2] - box[0], box[3] - box[1]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(category_ids[label]),
                    "bbox": [box[0], box[1], w, h],
                    "area": w * h,
                    "iscrowd": int(difficult),
                }
            )
    return {"images": images, "annotations": annotations, "categories": categories}


def coco_category_names(annotation_file: str) -> list[str]:
    """Category names of a COCO file sorted by category id (the default label order), images unread."""
    return [c["name"] for c in sorted(_categories(_read_json(annotation_file), annotation_file), key=lambda c: c["id"])]


def coco_class_names(coco: COCO) -> list[str]:
    """Category names sorted by category id (the default label order)."""
    return [c["name"] for c in sorted(coco.loadCats(coco.getCatIds()), key=lambda c: c["id"])]


class COCODataset(DetectionDataset):
    """A COCO-format dataset; ``image_id`` is the JSON's integer image id."""

    format_name = "coco"

    def __init__(
        self,
        *,
        images: str,
        annotations: str,
        class_names: Sequence[str] | None = None,
        transform: Transform | None = None,
        training: bool = False,
        keep_empty: bool = True,
        skip_corrupt: bool = False,
        allow_outside_root: bool = False,
    ) -> None:
        self.coco = load_coco(annotations, image_dir=images, allow_outside_root=allow_outside_root)
        by_name = {c["name"]: c["id"] for c in self.coco.loadCats(self.coco.getCatIds())}
        if class_names is None:
            class_names = coco_class_names(self.coco)
        unknown = [n for n in class_names if n not in by_name]
        if unknown:
            raise ValueError(
                f"{annotations}: classes {unknown} of the class list are not categories of this file; "
                f"it has {sorted(by_name)}"
            )
        # Categories not in an explicit class list are ignored (training on a subset of classes).
        self.category_id_to_label = {by_name[n]: i + 1 for i, n in enumerate(class_names)}
        self.label_to_category_id = {v: k for k, v in self.category_id_to_label.items()}

        image_ids = sorted(self.coco.getImgIds())
        img_infos = self.coco.loadImgs(image_ids)
        paths = [os.path.join(images, info["file_name"]) for info in img_infos]
        check_files_exist(paths, what="images", source=annotations, exists=_lister(images))

        records = []
        for info, path in zip(img_infos, paths, strict=False):
            anns = [a for a in self.coco.imgToAnns.get(info["id"], []) if a["category_id"] in self.category_id_to_label]
            boxes = coco_xywh_to_xyxy(np.array([a["bbox"] for a in anns], dtype=np.float32))
            labels = np.array([self.category_id_to_label[a["category_id"]] for a in anns], dtype=np.int64)
            crowd = np.array([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool)
            source = f"{annotations} (image {info['id']} {info['file_name']})"
            names = [
                f"annotation id {a.get('id')}, {class_names[label - 1]}" for a, label in zip(anns, labels, strict=False)
            ]
            keep = sanitize_boxes(boxes, width=info["width"], height=info["height"], source=source, names=names)
            records.append(
                ImageRecord(
                    path,
                    int(info["id"]),
                    int(info["height"]),
                    int(info["width"]),
                    boxes[keep],
                    labels[keep],
                    crowd[keep],
                )
            )
        super().__init__(
            records=records,
            class_names=list(class_names),
            transform=transform,
            training=training,
            keep_difficult=False,
            keep_empty=keep_empty,
            skip_corrupt=skip_corrupt,
        )


def _build_coco(paths: Mapping[str, str], *, class_names: Sequence[str] | None, keep_difficult: bool, **common):
    # iscrowd regions are never training targets, whatever DATASETS.KEEP_DIFFICULT says.
    return COCODataset(images=paths["IMAGES"], annotations=paths["ANNOTATIONS"], class_names=class_names, **common)


COCO_FORMAT = register_format(
    DatasetFormat(
        name="coco",
        required_keys=("IMAGES", "ANNOTATIONS"),
        path_keys=("IMAGES", "ANNOTATIONS"),
        evaluator_kind="coco",
        build=_build_coco,
        default_class_names=lambda paths: coco_category_names(paths["ANNOTATIONS"]),
        description="{FORMAT: coco, IMAGES: <image folder>, ANNOTATIONS: <instances json>}",
    )
)
