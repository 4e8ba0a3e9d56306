"""Builder: chooses the evaluator for a dataset from ``TEST.EVALUATOR`` / ``TEST.VOC_METRIC`` /
``TEST.COCO_BACKEND``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from yacs.config import CfgNode

from ..config.choices import EVALUATORS
from ..data.class_layout import ClassLayout
from .coco import COCOEvaluator
from .evaluator import DatasetEvaluator
from .voc import VOCEvaluator


def evaluator_kind(cfg: CfgNode, dataset: Any) -> str:
    """``"coco"`` or ``"voc"``: ``auto`` follows the dataset's format (``dataset.format.evaluator_kind``;
    a dataset that declares no format is evaluated VOC-style from ``get_annotation``)."""
    kind = cfg.TEST.EVALUATOR
    if kind not in EVALUATORS:
        raise ValueError(f"TEST.EVALUATOR = {kind!r}; expected one of {list(EVALUATORS)}")
    if kind == "auto":
        fmt = getattr(dataset, "format", None)
        return fmt.evaluator_kind if fmt is not None else "voc"
    return kind


def build_evaluator(
    cfg: CfgNode,
    dataset: Any,
    class_names: Sequence[str] | None = None,
    label_to_category_id: Mapping[int, int] | None = None,
    *,
    class_layout: ClassLayout | None = None,
) -> DatasetEvaluator:
    """The evaluator for ``dataset``. ``class_layout``: the layout results are scored with
    (:func:`ssd.data.class_layout.scoring_layout` of the model's and the dataset's); or, without
    it, ``class_names`` as the model's labels name them (no background) and
    ``label_to_category_id``, the model's own label -> COCO category id mapping when it has one."""
    names = list(class_layout.class_names) if class_layout is not None else list(class_names or [])
    if evaluator_kind(cfg, dataset) == "coco":
        return COCOEvaluator(dataset=dataset, class_names=names, label_to_category_id=label_to_category_id,
                             class_layout=class_layout, backend=cfg.TEST.COCO_BACKEND)
    return VOCEvaluator(dataset=dataset, class_names=names, metric=cfg.TEST.VOC_METRIC)
