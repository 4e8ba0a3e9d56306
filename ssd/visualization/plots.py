"""Evaluation and training plots as PNG files (and TensorBoard images when a writer is given).

Files (all written by rank 0):

* ``OUTPUT_DIR/inference/<dataset>/pr_curves.png`` -- per-class precision-recall at IoU 0.5
  (legend: the area = VOC2010+ AP) and COCO's mean over IoU 0.50:0.95 (legend: its mean);
* ``.../confusion_matrix.png`` and ``confusion_matrix.json`` -- counts at the given score
  threshold, with a background row (false detections) and column (missed objects);
* ``OUTPUT_DIR/training_curves.png`` -- losses, learning rate and each test set's primary metric
  against the iteration, from ``metrics.jsonl`` and ``eval_history.jsonl``.

Figures are drawn with matplotlib's object API on an Agg canvas: no pyplot, no global backend
switch, nothing shown on screen.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..evaluation.schema import from_json, primary_metric
from .curves import (
    COCO_IOU_THRESHOLDS,
    COCO_RECALL_POINTS,
    average_sampled,
    confusion_matrix,
    detections_of,
    flatten,
    ground_truth_of,
    pr_curves,
    sample_curve,
)
from .draw import class_colour

logger = logging.getLogger(__name__)

MAX_LEGEND_CLASSES = 20  # more classes: only the class mean gets a legend entry


def _save(fig: Figure, path: str, *, writer: Any = None, tag: str = "", step: int | None = None) -> str:
    canvas = FigureCanvasAgg(fig)
    fig.savefig(path, dpi=fig.dpi)  # renders on the Agg canvas: its buffer then holds the image
    if writer is not None:
        rgb = np.asarray(canvas.buffer_rgba())[..., :3].copy()
        writer.add_image(tag, rgb, 0 if step is None else step, dataformats="HWC")
    return path


# ------------------------------------------------------------------------------------------ evaluation


def plot_pr_curves(
    gt: Mapping, detections: Mapping, *, class_names: Sequence[str], title: str = ""
) -> tuple[Figure, dict[str, dict[str, float]]]:
    """Two panels (IoU 0.5; mean over IoU 0.50:0.95) of per-class curves plus the class mean.
    Returns the figure and ``{class: {"AP50": area at IoU 0.5, "AP": mean of the 0.50:0.95 curve}}``."""
    fig = Figure(figsize=(12, 5.2), dpi=80)
    ax50, ax_mean = fig.subplots(1, 2, sharey=True)
    legend = len(class_names) <= MAX_LEGEND_CLASSES
    sampled50, sampled_mean, summary = [], [], {}
    cmap = _class_cmap(len(class_names))
    flat = flatten(gt, detections)
    per_threshold = [pr_curves(gt, detections, num_classes=len(class_names), iou_threshold=float(t), flat=flat)
                     for t in COCO_IOU_THRESHOLDS]
    curves50, mean_curves = per_threshold[0], average_sampled(per_threshold)  # COCO's thresholds start at 0.5
    for label, name in enumerate(class_names, start=1):
        curve, mean_curve = curves50[label - 1], mean_curves[label - 1]
        summary[name] = {"AP50": curve.ap, "AP": float(np.mean(mean_curve))}
        if curve.num_gt == 0:
            continue
        colour = cmap[label - 1]
        ax50.step(curve.recall, curve.precision, where="pre", color=colour, lw=1.2,
                  label=f"{name} {curve.ap:.3f}" if legend else None)
        ax_mean.plot(COCO_RECALL_POINTS, mean_curve, color=colour, lw=1.2,
                     label=f"{name} {np.mean(mean_curve):.3f}" if legend else None)
        sampled50.append(sample_curve(curve))
        sampled_mean.append(mean_curve)
    for ax, sampled, what in ((ax50, sampled50, "IoU 0.5"), (ax_mean, sampled_mean, "mean over IoU 0.50:0.95")):
        if sampled:
            mean = np.mean(sampled, axis=0)
            ax.plot(COCO_RECALL_POINTS, mean, color="black", lw=2.5, label=f"all classes {np.mean(mean):.3f}")
        ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", title=f"{title} precision-recall, {what}".strip())
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=8, title="class AP", title_fontsize=8)
    ax50.set_ylabel("precision")
    fig.tight_layout()
    return fig, summary


def plot_confusion_matrix(
    matrix: np.ndarray, *, class_names: Sequence[str], score_threshold: float, title: str = ""
) -> Figure:
    """Heat map of :func:`~ssd.visualization.curves.confusion_matrix` (rows normalised to the
    true-class totals; counts written in the cells), background shown last."""
    order = list(range(1, len(class_names) + 1)) + [0]
    shown = matrix[np.ix_(order, order)]
    names = list(class_names) + ["background"]
    totals = shown.sum(axis=1, keepdims=True)
    fraction = np.divide(shown, totals, out=np.zeros(shown.shape), where=totals > 0)
    n = len(names)
    side = min(max(5.0, 0.5 * n + 2), 24)
    fig = Figure(figsize=(side + 1, side), dpi=80)
    ax = fig.subplots()
    im = ax.imshow(fraction, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    ax.set_xticks(range(n), names, rotation=90 if n > 8 else 45, ha="right" if n <= 8 else "center")
    ax.set_yticks(range(n), names)
    ax.set(xlabel="predicted (background = missed)", ylabel="true (background = false detection)")
    ax.set_title(f"{title} confusion at score >= {score_threshold:g}, IoU 0.5".strip())
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if shown[i, j]:
                    ax.text(j, i, str(shown[i, j]), ha="center", va="center", fontsize=8,
                            color="white" if fraction[i, j] > 0.5 else "black")
    fig.tight_layout()
    return fig


def write_eval_plots(
    out_dir: str,
    *,
    dataset: Any,
    detections: Sequence[Mapping[str, Any]],
    class_names: Sequence[str],
    score_threshold: float,
    writer: Any = None,
    step: int | None = None,
) -> list[str]:
    """PR curves and the confusion matrix of ``detections`` (COCO result entries, as in
    ``detections.json``) against ``dataset``'s ground truth, in ``out_dir``; returns the paths.

    ``class_names`` are the dataset's (label ``l`` -> ``class_names[l - 1]``); its class layout
    (``dataset.class_layout``) maps the entries' category ids back to labels. With a TensorBoard
    ``writer`` the figures are added as images under ``eval/<out_dir's name>/...`` at ``step``.
    """
    os.makedirs(out_dir, exist_ok=True)
    gt = ground_truth_of(dataset)
    dets = detections_of(detections, category_to_label=dataset.class_layout.labels_of_categories())
    name = os.path.basename(os.path.normpath(out_dir))
    fig, _ = plot_pr_curves(gt, dets, class_names=class_names, title=name)
    paths = [_save(fig, os.path.join(out_dir, "pr_curves.png"), writer=writer, tag=f"eval/{name}/pr_curves",
                   step=step)]
    matrix = confusion_matrix(gt, dets, num_classes=len(class_names), score_threshold=score_threshold)
    fig = plot_confusion_matrix(matrix, class_names=class_names, score_threshold=score_threshold, title=name)
    paths.append(_save(fig, os.path.join(out_dir, "confusion_matrix.png"), writer=writer,
                       tag=f"eval/{name}/confusion_matrix", step=step))
    with open(os.path.join(out_dir, "confusion_matrix.json"), "w", encoding="utf-8") as f:
        json.dump({"labels": ["background", *class_names], "score_threshold": score_threshold, "iou_threshold": 0.5,
                   "rows": "true label", "columns": "predicted label", "matrix": matrix.tolist()}, f, indent=1)
    paths.append(os.path.join(out_dir, "confusion_matrix.json"))
    if writer is not None:
        writer.flush()
    return paths


def _class_cmap(n: int) -> list[tuple[float, float, float]]:
    return [tuple(c / 255 for c in class_colour(label)[::-1]) for label in range(1, n + 1)]


# ------------------------------------------------------------------------------------------ training


def read_jsonl(path: str) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file (``[]`` when it does not exist); a line that does
    not parse (a run killed mid-write) is skipped with a warning naming the file and line."""
    if not os.path.isfile(path):
        return []
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                logger.warning("%s line %d is not JSON; skipped", path, number)
    return rows


def training_series(metrics_rows: Sequence[Mapping[str, Any]], eval_rows: Sequence[Mapping[str, Any]]):
    """``(losses {name: (iters, values)}, lr (iters, values), primary {dataset: (name, iters, values)})``
    from ``metrics.jsonl`` rows and ``eval_history.jsonl`` rows (``iteration``, ``results {dataset:
    result}``, results in the schema of :mod:`ssd.evaluation.schema`, ``null`` for NaN).

    A ``metrics.jsonl`` row (:class:`ssd.engine.hooks.LoggingHook`) holds ``iteration``, ``lr``,
    timings and the step's losses as top-level ``loss*`` keys (``loss``, ``loss_box``,
    ``loss_cls``: detectron2's naming) or, in the older form, a ``losses`` dict. A later row for an
    iteration replaces an earlier one (a resumed run logs the iterations after its checkpoint
    again)."""
    by_iter = {int(r["iteration"]): r for r in metrics_rows if "iteration" in r}
    iters = sorted(by_iter)
    losses: dict[str, tuple[list[int], list[float]]] = {}
    lr: tuple[list[int], list[float]] = ([], [])
    for it in iters:
        row = by_iter[it]
        row_losses = row.get("losses") or {k: v for k, v in row.items() if k.startswith("loss")}
        for k, v in row_losses.items():
            if v is None:
                continue
            losses.setdefault(k, ([], []))
            losses[k][0].append(it)
            losses[k][1].append(float(v))
        if row.get("lr") is not None:
            lr[0].append(it)
            lr[1].append(float(row["lr"]))
    primary: dict[str, tuple[str, list[int], list[float]]] = {}
    evals = {int(r["iteration"]): r for r in eval_rows if "iteration" in r}
    for it in sorted(evals):
        for dataset, result in (evals[it].get("results") or {}).items():
            try:
                metric, value = primary_metric(from_json(result))
            except (KeyError, TypeError, AttributeError):
                logger.warning("eval_history.jsonl iteration %d, %s: not in the evaluation result schema; skipped",
                               it, dataset)
                continue
            entry = primary.setdefault(dataset, (metric, [], []))
            entry[1].append(it)
            entry[2].append(value)
    return losses, lr, primary


def write_training_curves(output_dir: str, writer: Any = None) -> list[str]:
    """``OUTPUT_DIR/training_curves.png`` (losses, LR, primary metric per test set against the
    iteration) from ``metrics.jsonl`` and ``eval_history.jsonl``; ``[]`` when neither has rows."""
    losses, lr, primary = training_series(
        read_jsonl(os.path.join(output_dir, "metrics.jsonl")),
        read_jsonl(os.path.join(output_dir, "eval_history.jsonl")),
    )
    if not losses and not lr[0] and not primary:
        logger.info("no metrics.jsonl / eval_history.jsonl rows in %s: no training curves", output_dir)
        return []
    fig = Figure(figsize=(15, 4.2), dpi=80)
    ax_loss, ax_lr, ax_metric = fig.subplots(1, 3)
    for name, (its, values) in losses.items():
        ax_loss.plot(its, values, lw=1.2, label=name)
    finite = [v for _, values in losses.values() for v in values if math.isfinite(v)]
    if finite and min(finite) > 0:
        ax_loss.set_yscale("log")
    ax_loss.set(title="losses", xlabel="iteration")
    ax_lr.plot(lr[0], lr[1], lw=1.2, color="tab:orange")
    ax_lr.set(title="learning rate", xlabel="iteration")
    for dataset, (metric, its, values) in primary.items():
        ax_metric.plot(its, values, marker="o", lw=1.2, label=f"{dataset} {metric}")
        best = int(np.nanargmax(values)) if np.isfinite(values).any() else None
        if best is not None:
            ax_metric.annotate(f"{values[best]:.3f}", (its[best], values[best]), textcoords="offset points",
                               xytext=(0, 6), ha="center", fontsize=8)
    ax_metric.set(title="primary metric", xlabel="iteration")
    for ax in (ax_loss, ax_lr, ax_metric):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    path = _save(fig, os.path.join(output_dir, "training_curves.png"), writer=writer, tag="train/curves",
                 step=max([*lr[0], *(i for _, its, _ in primary.values() for i in its)], default=0))
    if writer is not None:
        writer.flush()
    return [path]
