import contextlib
import io

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ssd.evaluation.voc import VOCEvaluator
from ssd.visualization.curves import (
    COCO_RECALL_POINTS,
    confusion_matrix,
    detections_of,
    mean_iou_curve,
    pr_curve,
    sample_curve,
    step_area,
)

A, B, C = [0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]


def _gt(boxes, labels, difficult=None):
    n = len(labels)
    return {"boxes": np.array(boxes, float).reshape(-1, 4), "labels": np.array(labels, np.int64),
            "difficult": np.zeros(n, bool) if difficult is None else np.array(difficult, bool)}


def _det(boxes, scores, labels):
    return {"boxes": np.array(boxes, float).reshape(-1, 4), "scores": np.array(scores, float),
            "labels": np.array(labels, np.int64)}


# One class, 3 objects. By score: TP (a/A), FP (b/C, nothing there), TP (b/A), FP (a/A again: duplicate).
# precision 1, 1/2, 2/3, 1/2 at recall 1/3, 1/3, 2/3, 2/3; envelope 1 up to 1/3, 2/3 up to 2/3, then 0:
# area = 1/3 * 1 + 1/3 * 2/3 = 5/9.
GT = {"a": _gt([A, B], [1, 1]), "b": _gt([A], [1])}
DETS = {"a": _det([A, A], [0.9, 0.6], [1, 1]), "b": _det([C, A], [0.8, 0.7], [1, 1])}


def test_pr_curve_area_is_the_hand_computed_ap():
    curve = pr_curve(GT, DETS, label=1, iou_threshold=0.5)
    assert curve.num_gt == 3
    assert curve.ap == pytest.approx(5 / 9, abs=1e-12)
    assert step_area(curve.recall, curve.precision) == pytest.approx(5 / 9, abs=1e-12)
    assert curve.recall.tolist() == pytest.approx([0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 1])
    assert curve.precision.tolist() == pytest.approx([1, 1, 2 / 3, 2 / 3, 1 / 2, 0])


class _Dataset:
    def __init__(self, annotations):
        self.annotations = annotations

    def get_annotation(self, index):
        return self.annotations[index]


def test_pr_curve_area_equals_the_voc_evaluators_reported_ap():
    evaluator = VOCEvaluator(dataset=_Dataset([GT["a"], GT["b"]]), class_names=["thing"], metric="voc_area")
    evaluator.process(
        [{"index": 0}, {"index": 1}],
        [{k: torch.as_tensor(v) for k, v in DETS[k].items()} for k in ("a", "b")],
    )
    reported = evaluator.evaluate()["AP"]["thing"]
    assert pr_curve(GT, DETS, label=1).ap == pytest.approx(reported, abs=1e-12)


def test_sampled_curve_and_iou_mean_on_cocos_recall_points():
    # recall points <= 1/3 (0.00..0.33: 34) get 1, up to 2/3 (0.34..0.66: 33) get 2/3, the rest 0
    expected = np.where(COCO_RECALL_POINTS <= 1 / 3, 1.0, np.where(COCO_RECALL_POINTS <= 2 / 3, 2 / 3, 0.0))
    assert sample_curve(pr_curve(GT, DETS, label=1)) == pytest.approx(expected)
    # every match has IoU 1, so all ten thresholds give the same curve
    mean = mean_iou_curve(GT, DETS, label=1)
    assert float(np.mean(mean)) == pytest.approx(56 / 101, abs=1e-12)


def test_iou_mean_equals_pycocotools_ap_for_the_class():
    images = [{"id": 1, "width": 100, "height": 100}, {"id": 2, "width": 100, "height": 100}]
    # slightly shifted boxes: the match survives some IoU thresholds and not others
    gt = {1: _gt([A, B], [1, 1]), 2: _gt([A], [1])}
    dets = {1: _det([[0, 0, 10, 11], [21, 21, 30, 30]], [0.9, 0.6], [1, 1]), 2: _det([[0, 1, 10, 13], C], [0.7, 0.8],
                                                                                    [1, 1])}
    anns, results = [], []
    for image_id, g in gt.items():
        for x1, y1, x2, y2 in g["boxes"]:
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1)})
        for (x1, y1, x2, y2), s in zip(dets[image_id]["boxes"], dets[image_id]["scores"], strict=True):
            results.append({"image_id": image_id, "category_id": 1, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": s})
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "thing"}]}
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(results), iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert float(np.mean(mean_iou_curve(gt, dets, label=1))) == pytest.approx(ev.stats[0], abs=1e-12)
    assert ev.stats[1] == pytest.approx(float(np.mean(sample_curve(pr_curve(gt, dets, label=1)))), abs=1e-12)


def test_class_without_ground_truth_has_nan_ap():
    curve = pr_curve(GT, DETS, label=2)
    assert curve.num_gt == 0 and np.isnan(curve.ap)
    assert np.isnan(mean_iou_curve(GT, DETS, label=2)).all()


def test_confusion_matrix_counts_by_hand():
    gt = {
        # A: class 1, B: class 2, C: class 1 but difficult
        "x": _gt([A, B, C], [1, 2, 1], [False, False, True]),
        "y": _gt([A], [2]),  # nothing detected: a missed class-2 object
        "w": _gt([[0, 0, 10, 10], [0, 0, 10, 12]], [1, 2]),
    }
    dets = {
        # right on A; class 1 on the class-2 B; on the difficult C (not counted); on nothing;
        # on A again below the threshold (ignored)
        "x": _det([A, B, C, [70, 70, 90, 90], A], [0.9, 0.8, 0.9, 0.7, 0.3], [1, 1, 2, 2, 2]),
        "z": _det([A], [0.95], [1]),  # an image without objects: a false detection
        # IoU 1 with the class-2 object, 0.83 with the class-1 one: paired with the class-2 object
        "w": _det([[0, 0, 10, 12]], [0.6], [2]),
    }
    matrix = confusion_matrix(gt, dets, num_classes=2, score_threshold=0.5)
    assert matrix.tolist() == [
        [0, 1, 1],  # false detections of class 1 (image z) and class 2 (x, on nothing)
        [1, 1, 0],  # class 1: missed once (w), found once (x)
        [1, 1, 1],  # class 2: missed once (y), taken for class 1 once (x), found once (w)
    ]


def test_detections_of_maps_category_ids_back_to_labels_and_xywh_to_xyxy():
    results = [
        {"image_id": 7, "category_id": 20, "bbox": [1.5, 2.0, 10.0, 4.0], "score": 0.5},
        {"image_id": 7, "category_id": 99, "bbox": [0, 0, 1, 1], "score": 0.9},  # not a class: dropped
    ]
    out = detections_of(results, category_to_label={10: 1, 20: 2})
    assert out[7]["boxes"].tolist() == [[1.5, 2.0, 11.5, 6.0]]
    assert out[7]["labels"].tolist() == [2] and out[7]["scores"].tolist() == [0.5]
    assert detections_of(results)[7]["labels"].tolist() == [20, 99]
