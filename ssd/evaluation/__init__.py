"""Evaluators (reset / process / evaluate) and the VOC AP functions."""

from .build import build_evaluator
from .coco import COCOEvaluator, coco_from_annotations, run_coco_eval
from .evaluator import DatasetEvaluator
from .results import coco_results
from .voc import VOCEvaluator, format_voc_table
from .voc_ap import class_ap, precision_recall, voc_ap

__all__ = [
    "COCOEvaluator",
    "DatasetEvaluator",
    "VOCEvaluator",
    "build_evaluator",
    "class_ap",
    "coco_from_annotations",
    "coco_results",
    "format_voc_table",
    "precision_recall",
    "run_coco_eval",
    "voc_ap",
]
