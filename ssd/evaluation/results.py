"""Detections in the COCO results format (what ``detections.json`` holds)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def coco_results(
    *,
    image_id: Any,
    boxes: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    label_to_category_id: Mapping[int, int] | None = None,
) -> list[dict[str, Any]]:
    """One image's detections as COCO result entries.

    ``boxes [K, 4]`` are xyxy in original image pixels; the entries hold ``bbox`` as
    ``[x, y, width, height]`` (COCO's convention). Labels map to the dataset's original category
    ids through ``label_to_category_id``; without it the label index itself is the category id
    (VOC-format datasets).
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    entries = []
    for (x1, y1, x2, y2), score, label in zip(boxes, np.asarray(scores), np.asarray(labels), strict=True):
        label = int(label)
        if label_to_category_id is not None:
            if label not in label_to_category_id:
                raise ValueError(f"label {label} has no category id; known labels {sorted(label_to_category_id)}")
            category = int(label_to_category_id[label])
        else:
            category = label
        entries.append(
            {
                "image_id": image_id,
                "category_id": category,
                "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                "score": float(score),
            }
        )
    return entries
