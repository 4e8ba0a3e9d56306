import numpy as np
import pytest
import torch

from ssd.engine import rescale_boxes
from ssd.engine.inference import flatten_metrics, write_results
from ssd.evaluation import coco_results


def test_rescale_boxes_to_original_pixels_and_clip():
    boxes = torch.tensor([[30.0, 60.0, 150.0, 300.0], [-5.0, 10.0, 310.0, 20.0]])
    out = rescale_boxes(boxes, input_size=300, height=150, width=600)
    assert out.tolist() == [[60.0, 30.0, 300.0, 150.0], [0.0, 5.0, 600.0, 10.0]]


def test_coco_results_are_xywh_with_original_category_ids():
    entries = coco_results(image_id=7, boxes=np.array([[10.0, 20.0, 40.0, 60.0]]), scores=np.array([0.5]),
                           labels=np.array([2]), label_to_category_id={1: 10, 2: 20})
    assert entries == [{"image_id": 7, "category_id": 20, "bbox": [10.0, 20.0, 30.0, 40.0], "score": 0.5}]
    assert coco_results(image_id="a", boxes=np.zeros((1, 4)), scores=np.ones(1), labels=np.array([3]))[0][
        "category_id"] == 3
    with pytest.raises(ValueError, match="label 3 has no category id"):
        coco_results(image_id=1, boxes=np.zeros((1, 4)), scores=np.ones(1), labels=np.array([3]),
                     label_to_category_id={1: 10})


def test_flatten_metrics_and_nan_written_as_null(tmp_path):
    metrics = {"metric": "voc_area", "mAP": 0.5, "AP": {"cat": 0.5, "dog": float("nan")}}
    assert flatten_metrics(metrics, "eval/x") == {"eval/x/mAP": 0.5, "eval/x/AP/cat": 0.5,
                                                  "eval/x/AP/dog": pytest.approx(float("nan"), nan_ok=True)}
    write_results(str(tmp_path), metrics=metrics, detections=[])
    assert (tmp_path / "metrics.json").read_text().count("null") == 1
    assert (tmp_path / "detections.json").read_text() == "[]"
