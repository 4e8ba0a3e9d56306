import math

import numpy as np
import pytest
import torch

from ssd.evaluation import VOCEvaluator, class_ap, voc_ap

# One class. Image 0: objects A and B; image 1: object C and a difficult object D.
GT_BOXES = {
    0: np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float),
    1: np.array([[0, 0, 10, 10], [50, 50, 60, 60]], float),
}
GT_DIFFICULT = {0: np.array([False, False]), 1: np.array([False, True])}
# d1 finds A, d2 hits nothing, d3 finds difficult D (ignored), d4 finds B, d5 duplicates A; C is missed.
DETS = [
    (0, [0, 0, 10, 10], 0.9),
    (0, [100, 100, 110, 110], 0.8),
    (1, [50, 50, 60, 60], 0.7),
    (0, [20, 20, 30, 30], 0.6),
    (0, [0, 0, 10, 11], 0.5),
]


def _ap(use_07):
    ids, boxes, scores = zip(*DETS, strict=True)
    return class_ap(
        det_image_ids=list(ids),
        det_boxes=np.array(boxes, float),
        det_scores=np.array(scores),
        gt_boxes=GT_BOXES,
        gt_difficult=GT_DIFFICULT,
        use_07_metric=use_07,
    )


def test_hand_computed_voc07_11point():
    # recall [1/3, 1/3, 2/3, 2/3], precision [1, 1/2, 2/3, 1/2]:
    # t in {0, .1, .2, .3} -> 1; t in {.4, .5, .6} -> 2/3; t >= .7 -> 0.  (4 + 3 * 2/3) / 11
    assert _ap(True) == pytest.approx(6 / 11)


def test_hand_computed_voc_area():
    # envelope 1 on recall (0, 1/3], 2/3 on (1/3, 2/3], 0 after: 1/3 + 2/9
    assert _ap(False) == pytest.approx(5 / 9)


def test_detection_order_does_not_matter():
    ids, boxes, scores = zip(*reversed(DETS), strict=True)
    ap = class_ap(
        det_image_ids=list(ids),
        det_boxes=np.array(boxes, float),
        det_scores=np.array(scores),
        gt_boxes=GT_BOXES,
        gt_difficult=GT_DIFFICULT,
        use_07_metric=False,
    )
    assert ap == pytest.approx(5 / 9)


def test_voc_ap_on_given_curves():
    assert voc_ap(np.array([0.5, 1.0]), np.array([1.0, 0.5]), use_07_metric=False) == pytest.approx(0.75)
    assert voc_ap(np.array([0.5, 1.0]), np.array([1.0, 0.5]), use_07_metric=True) == pytest.approx(8.5 / 11)
    with pytest.raises(ValueError, match=r"\(2,\).*\(1,\)"):
        voc_ap(np.array([0.5, 1.0]), np.array([1.0]), use_07_metric=True)


class _FakeVOC:
    def __init__(self, anns):
        self.anns = anns

    def get_annotation(self, i):
        return self.anns[i]


def _evaluator_inputs():
    anns = [
        {"boxes": np.array([[1, 2, 30, 40], [50, 50, 90, 80]], np.float32), "labels": np.array([1, 2]),
         "difficult": np.array([False, False])},
        {"boxes": np.array([[5, 5, 25, 25]], np.float32), "labels": np.array([2]), "difficult": np.array([False])},
    ]
    infos = [{"index": i, "image_id": f"{i:06d}", "height": 100, "width": 100} for i in range(2)]
    return _FakeVOC(anns), anns, infos


@pytest.mark.parametrize("metric", ["voc07_11point", "voc_area"])
def test_perfect_predictions_give_ap_one(metric):
    dataset, anns, infos = _evaluator_inputs()
    ev = VOCEvaluator(dataset=dataset, class_names=["cat", "dog"], metric=metric)
    outputs = [
        {"boxes": torch.as_tensor(a["boxes"]), "scores": torch.ones(len(a["labels"])),
         "labels": torch.as_tensor(a["labels"])}
        for a in anns
    ]
    ev.process(infos[:1], outputs[:1])
    ev.process(infos[1:], outputs[1:])
    result = ev.evaluate()
    assert result == {"metric": metric, "mAP": 1.0, "AP": {"cat": 1.0, "dog": 1.0}}


def test_evaluator_missing_class_is_nan_and_left_out_of_the_mean():
    dataset, anns, infos = _evaluator_inputs()
    ev = VOCEvaluator(dataset=dataset, class_names=["cat", "dog", "bird"], metric="voc_area")
    ev.process(infos, [
        {"boxes": torch.tensor([[1.0, 2, 30, 40]]), "scores": torch.tensor([0.9]), "labels": torch.tensor([1])},
        {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.int64)},
    ])
    result = ev.evaluate()
    assert result["AP"]["cat"] == 1.0 and result["AP"]["dog"] == 0.0 and math.isnan(result["AP"]["bird"])
    assert result["mAP"] == 0.5
    ev.reset()
    ev.process(infos[:1], [{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0),
                            "labels": torch.zeros(0, dtype=torch.int64)}])
    assert ev.evaluate()["AP"]["cat"] == 0.0


def test_unknown_metric_is_a_value_error():
    with pytest.raises(ValueError, match="voc2012"):
        VOCEvaluator(dataset=None, class_names=["a"], metric="voc2012")
