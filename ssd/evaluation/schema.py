"""The one result schema every evaluator returns, whatever the dataset format.

``evaluate()`` gives ``{task: TaskResult}`` (detectron2's ``{task: {metric: value}}``, with the
primary metric declared instead of guessed); in JSON (``metrics.json``) a task result is::

    {"bbox": {"primary": "AP",                       # the key of "metrics" that ranks models
              "metrics": {"AP": 0.51, "AP50": 0.74},   # floats; NaN where undefined, never -1
              "per_class": {"cat": 0.43, "dog": 0.61}}} # per-class AP (the primary metric's kind)

COCO's primary metric is ``AP`` (mean over IoU 0.5:0.95), VOC's is ``mAP`` (IoU 0.5). Consumers
(TensorBoard, the best-checkpoint hook, ``tools/test.py``) read :func:`primary_metric` and
:func:`scalars` and never sniff keys; :func:`json_safe` / :func:`from_json` convert to and from
``metrics.json`` (NaN <-> ``null``) and :func:`format_result` prints a result.
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


def format_result(result: Mapping[str, Any]) -> str:
    """A readable table of ``{task: task_result}``: the metrics on one line (primary first), then
    the per-class values, one class a line ("nan" where a class has no ground truth)."""
    lines = []
    for task, entry in result.items():
        primary = entry["primary"]
        names = [primary] + [k for k in entry["metrics"] if k != primary]
        lines.append(f"{task}: " + "  ".join(f"{k} {entry['metrics'][k]:.4f}" for k in names))
        if entry["per_class"]:
            width = max(len(n) for n in entry["per_class"])
            lines.append(f"  per-class {primary}:")
            lines += [f"  {name:<{width}}  {value:.4f}" for name, value in entry["per_class"].items()]
    return "\n".join(lines)


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (JSON has no NaN: a class
    without ground truth is written as ``null``); dicts and lists are copied recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def from_json(data: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`json_safe` on a result read back from ``metrics.json`` (``null`` -> NaN)."""
    return {
        task: {
            "primary": entry["primary"],
            "metrics": {k: math.nan if v is None else float(v) for k, v in entry["metrics"].items()},
            "per_class": {k: math.nan if v is None else float(v) for k, v in entry["per_class"].items()},
        }
        for task, entry in data.items()
    }


def _number(value: float) -> float:
    """float, with pycocotools' ``-1`` ("no ground truth of this kind") turned into NaN."""
    value = float(value)
    return math.nan if value == -1.0 else value
