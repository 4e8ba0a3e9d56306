"""The one result schema every evaluator returns, whatever the dataset format.

``evaluate()`` gives ``{task: TaskResult}`` (detectron2's ``{task: {metric: value}}``, with the
primary metric declared instead of guessed); in JSON (``metrics.json``) a task result is::

    {"bbox": {"primary": "AP",                       # the key of "metrics" that ranks models
              "metrics": {"AP": 0.51, "AP50": 0.74},   # floats; NaN where undefined, never -1
              "per_class": {"cat": 0.43, "dog": 0.61}}} # per-class AP (the primary metric's kind)

COCO's primary metric is ``AP`` (mean over IoU 0.5:0.95), VOC's is ``mAP`` (IoU 0.5). Consumers
(TensorBoard, the best-checkpoint hook, ``tools/test.py``) read :func:`primary_metric` and
:func:`scalars` and never sniff keys.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

TASK = "bbox"


def task_result(*, metrics: Mapping[str, float], primary: str, per_class: Mapping[str, float]) -> dict[str, Any]:
    """One task's result. Raises ``ValueError`` when ``primary`` is not among ``metrics``."""
    if primary not in metrics:
        raise ValueError(f"primary metric {primary!r} is not among the metrics {sorted(metrics)}")
    return {
        "primary": primary,
        "metrics": {k: _number(v) for k, v in metrics.items()},
        "per_class": {str(k): _number(v) for k, v in per_class.items()},
    }


def primary_metric(result: Mapping[str, Any], task: str = TASK) -> tuple[str, float]:
    """``(name, value)`` of the primary metric of ``{task: task_result}``, e.g. ``("AP", 0.51)``."""
    entry = result[task]
    return entry["primary"], float(entry["metrics"][entry["primary"]])


def scalars(result: Mapping[str, Any], prefix: str) -> dict[str, float]:
    """Flat ``{"<prefix>/<task>/<metric>": v, "<prefix>/<task>/per_class/<name>": v}`` for logging;
    NaN values (COCO's "no such objects") are left out."""
    flat: dict[str, float] = {}
    for task, entry in result.items():
        for k, v in entry["metrics"].items():
            flat[f"{prefix}/{task}/{k}"] = v
        for k, v in entry["per_class"].items():
            flat[f"{prefix}/{task}/per_class/{k}"] = v
    return {k: v for k, v in flat.items() if not math.isnan(v)}


def _number(value: float) -> float:
    """float, with pycocotools' ``-1`` ("no ground truth of this kind") turned into NaN."""
    value = float(value)
    return math.nan if value == -1.0 else value
