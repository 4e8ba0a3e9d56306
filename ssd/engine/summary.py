"""The end-of-run report: printed to the log and written to ``OUTPUT_DIR/summary.json``.

``summary.json``::

    {"wall_time_s": 312.4, "iterations": {"start": 0, "end": 500, "max_iter": 500},
     "final": {"iteration": 500, "dataset": "voc_2007_test", "metric": "mAP", "value": 0.77,
               "per_class": {"aeroplane": 0.79, ...}} | null,
     "best":  {"iteration": 400, "dataset": ..., "metric": ..., "value": ...} | null,
     "weights": {"final": "<OUTPUT_DIR>/model_0000500.pth", "best": ".../model_best.pth" | null,
                 "ema": ".../model_0000500.pth" | null, "inference_uses": "model_ema" | "model"},
     "commands": {"evaluate": "python tools/test.py ...", "demo": "python tools/demo.py ..."}}

``weights.ema`` names the file holding the EMA weights (under ``model_ema``; loaders use them for
inference, see :func:`ssd.checkpoint.io.model_state`).
"""

from __future__ import annotations

import json
import math
import os
import shlex
from collections.abc import Mapping
from typing import Any

from ..evaluation.schema import TASK, json_safe, primary_metric


def metric_entry(*, iteration: int, dataset: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """``{"iteration", "dataset", "metric", "value", "per_class"}`` of a schema result."""
    name, value = primary_metric(result)
    return {"iteration": iteration, "dataset": dataset, "metric": name, "value": value,
            "per_class": dict(result[TASK]["per_class"])}


def commands(*, config_file: str, checkpoint: str) -> dict[str, str]:
    """The commands that evaluate ``checkpoint`` and run the demo on it."""
    cfg, ck = shlex.quote(config_file), shlex.quote(checkpoint)
    return {
        "evaluate": f"python tools/test.py --config-file {cfg} --ckpt {ck}",
        "demo": f"python tools/demo.py --config-file {cfg} --ckpt {ck} --images demo --output demo/output",
    }


def run_summary(
    *,
    wall_time_s: float,
    start_iter: int,
    end_iter: int,
    max_iter: int,
    final: dict[str, Any] | None,
    best: dict[str, Any] | None,
    final_checkpoint: str | None,
    best_checkpoint: str | None,
    has_ema: bool,
    config_file: str,
) -> dict[str, Any]:
    shipped = best_checkpoint or final_checkpoint
    return {
        "wall_time_s": round(wall_time_s, 1),
        "iterations": {"start": start_iter, "end": end_iter, "max_iter": max_iter},
        "final": final,
        "best": {k: v for k, v in best.items() if k != "result"} if best else None,
        "weights": {"final": final_checkpoint, "best": best_checkpoint,
                    "ema": final_checkpoint if has_ema else None,
                    "inference_uses": "model_ema" if has_ema else "model"},
        "commands": commands(config_file=config_file, checkpoint=shipped) if shipped else {},
    }


def format_summary(summary: Mapping[str, Any]) -> str:
    """The report as text: one fact per line, then the per-class AP table of the final evaluation."""
    it = summary["iterations"]
    lines = [f"run summary: iterations {it['start']}..{it['end']} of {it['max_iter']} in "
             f"{summary['wall_time_s'] / 60:.1f} min"]
    for key in ("final", "best"):
        entry = summary.get(key)
        if entry:
            lines.append(f"  {key + ':':7s}{entry['metric']} = {_fmt(entry['value'])} on {entry['dataset']} "
                         f"at iteration {entry['iteration']}")
    w = summary["weights"]
    for key in ("final", "best", "ema"):
        if w.get(key):
            lines.append(f"  {key} weights: {w[key]}" + (" (key model_ema)" if key == "ema" else ""))
    final = summary.get("final")
    if final and final.get("per_class"):
        width = max(len(n) for n in final["per_class"])
        lines.append(f"  per-class {final['metric']} ({final['dataset']}, iteration {final['iteration']}):")
        lines += [f"    {name:{width}s}  {_fmt(v)}" for name, v in final["per_class"].items()]
    for name, command in summary.get("commands", {}).items():
        lines.append(f"  {name}: {command}")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def write_summary(directory: str, summary: Mapping[str, Any]) -> str:
    """``directory/summary.json``; returns its path."""
    path = os.path.join(directory, "summary.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(json_safe(summary), f, indent=2)
    return path
