"""The evaluator contract: ``reset()``, ``process(inputs, outputs)`` per batch, ``evaluate()``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


class DatasetEvaluator:
    """Accumulates predictions batch by batch and computes metrics at the end.

    ``process`` receives the batch's ``infos`` (dicts with at least ``index``, ``image_id``,
    ``height``, ``width``) and the matching predictions: dicts with ``boxes`` float32 ``[K, 4]``
    xyxy in ORIGINAL image pixels, ``scores [K]`` and ``labels`` int64 ``[K]`` in
    ``1..num_classes-1``. Under torchrun every rank processes its share; ``evaluate`` gathers
    them and returns, on rank 0, ``{task: task_result}`` as :mod:`ssd.evaluation.schema` declares
    it (``{}`` elsewhere).
    """

    def reset(self) -> None:
        raise NotImplementedError

    def process(self, inputs: Sequence[dict[str, Any]], outputs: Sequence[dict[str, torch.Tensor]]) -> None:
        raise NotImplementedError

    def evaluate(self) -> dict[str, Any]:
        raise NotImplementedError


def predictions_to_numpy(output: dict[str, torch.Tensor]) -> dict[str, Any]:
    """CPU numpy copy of one image's prediction (boxes float64 for exact IoU arithmetic)."""
    return {
        "boxes": output["boxes"].detach().cpu().to(torch.float64).numpy().reshape(-1, 4),
        "scores": output["scores"].detach().cpu().to(torch.float64).numpy().reshape(-1),
        "labels": output["labels"].detach().cpu().to(torch.int64).numpy().reshape(-1),
    }
