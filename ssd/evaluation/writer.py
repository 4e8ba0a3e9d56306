"""What an evaluation leaves on disk, per test set: ``detections.json`` and ``metrics.json``.

``detections.json`` is a COCO results file (a list of ``{"image_id", "category_id", "bbox": [x,
y, w, h] original pixels, "score"}``), readable by pycocotools' / faster-coco-eval's ``loadRes``:
``image_id`` is always an integer (the COCO image id, or for datasets without COCO ground truth
the dataset index, with the dataset's own id, e.g. VOC's ``"000005"``, as ``source_image_id``).
It is written before the evaluator runs, so a failing evaluator never loses an inference run.

``metrics.json`` is the evaluator's ``{task: task_result}`` (:mod:`.schema`), NaN written as
``null``; :func:`read_metrics` gives it back with NaN.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from .schema import from_json, json_safe

DETECTIONS_FILE = "detections.json"
METRICS_FILE = "metrics.json"


def write_detections(directory: str, detections: Sequence[Mapping[str, Any]]) -> str:
    """Write ``directory/detections.json`` (created if needed); returns its path."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, DETECTIONS_FILE)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(list(detections), f)
    return path


def write_metrics(directory: str, result: Mapping[str, Any]) -> str:
    """Write ``directory/metrics.json`` (created if needed); returns its path."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, METRICS_FILE)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(json_safe(result), f, indent=2)
    return path


def read_metrics(directory: str) -> dict[str, Any]:
    """``directory/metrics.json`` as written by :func:`write_metrics` (``null`` back to NaN)."""
    with open(os.path.join(directory, METRICS_FILE), encoding="utf-8") as f:
        return from_json(json.load(f))
