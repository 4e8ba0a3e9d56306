"""COCO format: an instances JSON plus an image folder.

Category ids (arbitrary, possibly non-contiguous) map to contiguous labels ``1..K`` in the order
of the class list (by default the JSON's categories sorted by id), and back through
``label_to_category_id`` for results files. ``[x, y, w, h]`` becomes xyxy (see
:mod:`ssd.data.boxes`). ``iscrowd`` objects are never training targets: they are kept in
:meth:`get_annotation` with ``difficult=True`` so evaluators can ignore them. Images without
annotations are kept for evaluation and, with ``keep_empty``, for training as background.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Sequence

import numpy as np
from pycocotools.coco import COCO

from ..boxes import coco_xywh_to_xyxy, sanitize_boxes
from .base import DetectionDataset, ImageRecord, Transform, check_files_exist
from .voc import _lister

logger = logging.getLogger(__name__)


def load_coco(annotation_file: str) -> COCO:
    """pycocotools' ``COCO`` without its prints; ``FileNotFoundError`` naming a missing file."""
    if not os.path.isfile(annotation_file):
        raise FileNotFoundError(f"COCO annotation file not found: {annotation_file}")
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(annotation_file)


def coco_class_names(coco: COCO) -> list[str]:
    """Category names sorted by category id (the default label order)."""
    return [c["name"] for c in sorted(coco.loadCats(coco.getCatIds()), key=lambda c: c["id"])]


class COCODataset(DetectionDataset):
    """A COCO-format dataset; ``image_id`` is the JSON's integer image id."""

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
    ) -> None:
        self.coco = load_coco(annotations)
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
