import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ssd.engine import evaluate, inference_context, iter_evaluations, rescale_boxes, run_inference
from ssd.engine.inference import detection_entries
from ssd.evaluation import coco_results, scalars
from ssd.evaluation.writer import read_metrics, write_detections, write_metrics

sys.path.insert(0, str(Path(__file__).parent))
from standins import CLASS_NAMES, StandInDetector, standin_cfg, standin_trainer  # noqa: E402


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


def test_voc_detections_carry_an_int_image_id_and_the_dataset_id_beside_it():
    out = {"boxes": torch.tensor([[1.0, 2.0, 5.0, 9.0]]), "scores": torch.tensor([0.5]), "labels": torch.tensor([2])}
    info = {"index": 4, "image_id": "2008_000123"}
    assert detection_entries(info, out, label_to_category_id=None) == [
        {"image_id": 4, "category_id": 2, "bbox": [1.0, 2.0, 4.0, 7.0], "score": 0.5, "source_image_id": "2008_000123"}
    ]
    # a COCO set keeps its own image id and maps labels to category ids
    assert detection_entries({"index": 4, "image_id": 139}, out, label_to_category_id={2: 18})[0] == {
        "image_id": 139, "category_id": 18, "bbox": [1.0, 2.0, 4.0, 7.0], "score": 0.5}


def test_metrics_json_writes_nan_as_null_and_reads_it_back(tmp_path):
    result = {"bbox": {"primary": "mAP", "metrics": {"mAP": 0.5}, "per_class": {"cat": 0.5, "dog": float("nan")}}}
    write_metrics(str(tmp_path), result)
    assert json.loads((tmp_path / "metrics.json").read_text())["bbox"]["per_class"] == {"cat": 0.5, "dog": None}
    back = read_metrics(str(tmp_path))
    assert back["bbox"]["metrics"] == {"mAP": 0.5} and math.isnan(back["bbox"]["per_class"]["dog"])
    assert scalars(back, "eval/x") == {"eval/x/bbox/mAP": 0.5, "eval/x/bbox/per_class/cat": 0.5}
    write_detections(str(tmp_path), [])
    assert (tmp_path / "detections.json").read_text() == "[]"


@pytest.mark.parametrize("training", [True, False])
def test_inference_context_restores_the_mode_even_on_error(training):
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout())
    model.train(training)
    with inference_context(model):
        assert not model.training and not model[1].training
    assert model.training == training and model[1].training == training
    with pytest.raises(RuntimeError), inference_context(model):
        raise RuntimeError("inference failed")
    assert model.training == training


def test_run_inference_gives_detections_and_puts_the_model_back_in_training_mode():
    from standins import ShardLoader, StandInTestSet

    model = StandInDetector(num_classes=3).train()
    detections = run_inference(model, ShardLoader(StandInTestSet(n=4), 0, 1), device=torch.device("cpu"),
                               input_size=32)
    assert model.training
    assert [d["image_id"] for d in detections] == [0, 1, 2, 3]
    assert all(d["bbox"] == [0.0, 0.0, 16.0, 16.0] and d["category_id"] == 1 for d in detections)


def test_evaluation_writes_both_files_and_yields_dataset_detections_and_results(tmp_path):
    cfg = standin_cfg(tmp_path, test_sets=("standin_test",))
    model = StandInDetector(num_classes=3)
    seen = []
    results = evaluate(cfg, model, device=torch.device("cpu"), class_names=list(CLASS_NAMES),
                       build_test_loader=standin_trainer().build_test_loader, on_dataset=seen.append)
    (evaluation,) = seen
    assert evaluation.name == "standin_test" and len(evaluation.dataset) == 6
    assert results == {"standin_test": evaluation.result}
    # the stand-in predicts box [0, 0, 16, 16] class 1 everywhere: right on even images (class 1), wrong on
    # odd ones (class 2 elsewhere); the AP follows from the order of its scores
    dets = sorted(evaluation.detections, key=lambda d: -d["score"])
    assert len(dets) == 6 and all(d["category_id"] == 1 for d in dets)
    hits = np.cumsum([d["image_id"] % 2 == 0 for d in dets])
    precision, recall = hits / np.arange(1, 7), hits / 3
    voc07 = sum(max([p for p, r in zip(precision, recall, strict=True) if r >= t] or [0])
                for t in np.linspace(0, 1, 11))
    assert evaluation.result["bbox"]["per_class"]["circle"] == pytest.approx(voc07 / 11)
    assert evaluation.result["bbox"]["per_class"]["square"] == 0.0
    out = tmp_path / "inference" / "standin_test"
    assert json.loads((out / "detections.json").read_text()) == evaluation.detections
    assert read_metrics(str(out)) == evaluation.result


def test_a_failing_evaluator_keeps_the_detections(tmp_path, monkeypatch):
    import ssd.engine.runner as runner

    class Broken:
        def reset(self):
            pass

        def process(self, inputs, outputs):
            pass

        def evaluate(self):
            raise KeyError("iscrowd")

    monkeypatch.setattr(runner, "build_evaluator", lambda *a, **k: Broken())
    cfg = standin_cfg(tmp_path, test_sets=("standin_test",))
    with pytest.raises(KeyError, match="iscrowd"):
        list(iter_evaluations(cfg, StandInDetector(num_classes=3), device=torch.device("cpu"),
                              class_names=list(CLASS_NAMES), build_test_loader=standin_trainer().build_test_loader))
    out = tmp_path / "inference" / "standin_test"
    assert len(json.loads((out / "detections.json").read_text())) == 6
    assert not (out / "metrics.json").exists()
