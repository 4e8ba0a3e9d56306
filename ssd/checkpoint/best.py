"""``model_best.pth`` and ``best.json``: the evaluated weights that scored highest on the primary
metric (:func:`ssd.evaluation.schema.primary_metric`: COCO AP, VOC mAP) of the first test set.

The best file holds the weights only (``model`` and, with EMA, ``model_ema``), the config and the
class names: what evaluation, the demo and export read. ``KEEP_CHECKPOINTS`` never deletes it.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

from ..evaluation.schema import json_safe, primary_metric
from ..utils import checkpoint as ckpt

logger = logging.getLogger(__name__)

BEST_JSON = "best.json"


class BestCheckpoint:
    """Keeps ``directory/model_best.pth`` and ``directory/best.json`` (``{"iteration", "dataset",
    "metric", "value", "result"}``, ``result`` the schema result of that evaluation) up to date;
    a resumed run continues from the ``best.json`` already there."""

    def __init__(self, *, directory: str) -> None:
        self.directory = directory
        self.path = os.path.join(directory, ckpt.BEST)
        self.record: dict[str, Any] | None = None
        json_path = os.path.join(directory, BEST_JSON)
        if os.path.isfile(json_path) and os.path.isfile(self.path):
            with open(json_path, encoding="utf-8") as f:
                self.record = json.load(f)

    def update(
        self, *, iteration: int, dataset: str, result: Mapping[str, Any], weights: Callable[[], Mapping[str, Any]]
    ) -> bool:
        """Write the best files when ``result``'s primary metric beats the best so far (the first
        finite value always does): ``model_best.pth`` holds ``weights()`` (only called then).
        Returns whether it did."""
        name, value = primary_metric(result)
        if math.isnan(value):
            logger.warning("%s = NaN at iteration %d on %s: not a candidate for %s", name, iteration, dataset,
                           ckpt.BEST)
            return False
        if self.record is not None and value <= float(self.record["value"]):
            return False
        state = dict(weights())
        ckpt.check_finite(state, what=f"best checkpoint {self.path}")
        ckpt.atomic_save(state, self.path)
        self.record = {"iteration": iteration, "dataset": dataset, "metric": name, "value": value,
                       "result": dict(result)}
        ckpt.atomic_write_text(json.dumps(json_safe(self.record), indent=2) + "\n",
                               os.path.join(self.directory, BEST_JSON))
        logger.info("new best %s = %.4f on %s at iteration %d: %s", name, value, dataset, iteration, self.path)
        return True
