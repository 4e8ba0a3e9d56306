import pytest

from ssd.config import get_cfg
from ssd.config.validation import validate_config
from ssd.data import FORMATS
from ssd.evaluation import COCOEvaluator, VOCEvaluator, build_evaluator


class _COCOSet:
    format = FORMATS.get("coco")
    coco = object()
    label_to_category_id = {1: 5}


def test_coco_backend_is_chosen_by_the_config_and_defaults_to_faster_coco_eval():
    cfg = get_cfg()
    assert cfg.TEST.COCO_BACKEND == "faster_coco_eval"
    assert build_evaluator(cfg, _COCOSet(), ["a"]).backend == "faster_coco_eval"
    cfg.TEST.COCO_BACKEND = "pycocotools"
    evaluator = build_evaluator(cfg, _COCOSet(), ["a"])
    assert isinstance(evaluator, COCOEvaluator) and evaluator.backend == "pycocotools"
    assert isinstance(build_evaluator(cfg, object(), ["a"]), VOCEvaluator)  # no declared format: VOC


def test_unknown_coco_backend_is_rejected_by_validation():
    cfg = get_cfg()
    cfg.TEST.COCO_BACKEND = "detectron2"
    with pytest.raises(ValueError, match="detectron2"):
        validate_config(cfg)
