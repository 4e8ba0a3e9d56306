"""``MODEL.WEIGHTS``: start a training run from a detector checkpoint, on the same classes or others.

Every tensor whose name and shape match loads unchanged; the class convs are rebuilt for this
run's classes (:mod:`ssd.modeling.head.class_transfer`). Anything else that does not fit is an
error naming the tensors unless ``allow_partial`` (``MODEL.WEIGHTS_ALLOW_PARTIAL``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from ..modeling.head.class_transfer import TransferReport, transfer_class_weights
from ..utils.checkpoint import atomic_write_text
from .io import mismatch_message, model_state

logger = logging.getLogger(__name__)

TRANSFER_REPORT = "weights_transfer.json"


def _per_class(model: nn.Module) -> dict[str, int]:
    """The model's declared per-class tensors (``{}`` for a model that declares none: its class
    tensors must then match the checkpoint's exactly)."""
    declared = getattr(model, "per_class_parameters", None)
    return dict(declared()) if callable(declared) else {}


def load_pretrained_weights(
    model: nn.Module,
    checkpoint: Mapping[str, Any],
    *,
    source: str,
    class_names: Sequence[str],
    class_map: Mapping[str, str] | None = None,
    allow_partial: bool = False,
    config: Mapping[str, Any] | None = None,
    num_classes: int | None = None,
    output_dir: str | None = None,
) -> TransferReport:
    """Fill ``model`` (built for ``class_names``, background excluded) from ``checkpoint`` (its EMA
    weights when it has them), carrying class rows over by name (``class_map``: ``{this run's
    name: checkpoint's name}``). Logs the report table and, with ``output_dir``, writes it as
    ``weights_transfer.json`` there.

    A checkpoint without ``class_names`` (a bare state dict) carries nothing by name: its tensors
    must fit as they are. Raises ``ValueError`` (the architecture-mismatch message of
    :func:`ssd.checkpoint.io.mismatch_message`) when tensors do not fit and not ``allow_partial``.
    """
    weights = model_state(dict(checkpoint), source=source)
    source_names = list(checkpoint.get("class_names") or [])
    per_class = _per_class(model) if source_names else {}
    if class_map and not source_names:
        raise ValueError(f"MODEL.WEIGHTS_CLASS_MAP is set but {source} stores no class names to map from")
    state, report = transfer_class_weights(
        weights, source_names=source_names or list(class_names), target_state=model.state_dict(),
        target_names=list(class_names), per_class=per_class, class_map=class_map,
    )
    if not report.rebuilt:  # no class conv was rebuilt: there is nothing to say about class rows
        report.carried, report.fresh = [], []
    if (report.mismatched or report.unused) and not allow_partial:
        view = {**weights, **{k: state[k] for k in report.rebuilt}}
        message = mismatch_message(checkpoint, source=source, weights=view, model=model, config=config,
                                   num_classes=num_classes)
        raise ValueError(f"{message} (or set MODEL.WEIGHTS_ALLOW_PARTIAL True to load only the tensors that fit)")
    model.load_state_dict(state)
    logger.info("%s", report.table(source=source))
    if report.mismatched or report.unused:
        logger.warning("MODEL.WEIGHTS_ALLOW_PARTIAL: %d tensors keep their fresh initialisation, %d of %s unused",
                       len(report.mismatched), len(report.unused), source)
    if output_dir:
        data = {"source": source, **report.to_dict()}
        atomic_write_text(json.dumps(data, indent=2) + "\n", os.path.join(output_dir, TRANSFER_REPORT))
    return report
