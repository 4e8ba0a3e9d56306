"""Evaluators (reset / process / evaluate), the VOC AP functions and the one result schema."""

from .build import build_evaluator, evaluator_kind
from .coco import COCO_BACKENDS, COCOEvaluator, evaluate_coco, ground_truth_from_annotations
from .evaluator import DatasetEvaluator
from .results import coco_results
from .schema import format_result, from_json, json_safe, primary_metric, scalars, task_result
from .voc import VOCEvaluator
from .voc_ap import average_precisions, class_ap, match_detections, precision_recall, voc_ap

__all__ = [
    "COCOEvaluator",
    "COCO_BACKENDS",
    "DatasetEvaluator",
    "VOCEvaluator",
    "average_precisions",
    "build_evaluator",
    "class_ap",
    "coco_results",
    "evaluate_coco",
    "evaluator_kind",
    "format_result",
    "from_json",
    "ground_truth_from_annotations",
    "json_safe",
    "match_detections",
    "precision_recall",
    "primary_metric",
    "scalars",
    "task_result",
    "voc_ap",
]
