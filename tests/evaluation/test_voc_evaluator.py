import math

import numpy as np
import pytest
import torch

from ssd.evaluation import VOCEvaluator, average_precisions, class_ap, match_detections, primary_metric, voc_ap

from .voc_reference import reference_voc_ap

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
    assert result == {"bbox": {"primary": "mAP", "metrics": {"mAP": 1.0}, "per_class": {"cat": 1.0, "dog": 1.0}}}
    assert primary_metric(result) == ("mAP", 1.0)


def test_evaluator_missing_class_is_nan_and_left_out_of_the_mean():
    dataset, anns, infos = _evaluator_inputs()
    ev = VOCEvaluator(dataset=dataset, class_names=["cat", "dog", "bird"], metric="voc_area")
    ev.process(infos, [
        {"boxes": torch.tensor([[1.0, 2, 30, 40]]), "scores": torch.tensor([0.9]), "labels": torch.tensor([1])},
        {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.int64)},
    ])
    result = ev.evaluate()["bbox"]
    ap = result["per_class"]
    assert ap["cat"] == 1.0 and ap["dog"] == 0.0 and math.isnan(ap["bird"])
    assert result["metrics"]["mAP"] == 0.5
    ev.reset()
    ev.process(infos[:1], [{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0),
                            "labels": torch.zeros(0, dtype=torch.int64)}])
    assert ev.evaluate()["bbox"]["per_class"]["cat"] == 0.0


def test_unknown_metric_is_a_value_error():
    with pytest.raises(ValueError, match="voc2012"):
        VOCEvaluator(dataset=None, class_names=["a"], metric="voc2012")


def test_first_claim_wins_and_difficult_claims_are_ignored():
    # two images, two classes; scores tie between d0 and d1 (input order decides: d0 first)
    gt = dict(gt_images=np.array([0, 0, 1]), gt_labels=np.array([1, 1, 2]),
              gt_boxes=np.array([[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10]], float),
              gt_difficult=np.array([False, True, False]))
    order, match = match_detections(
        det_images=np.array([0, 0, 0, 1, 1]), det_labels=np.array([1, 1, 1, 2, 1]),
        det_boxes=np.array([[0, 0, 10, 10], [0, 0, 10, 9], [20, 20, 30, 30], [0, 0, 10, 10], [0, 0, 10, 10]], float),
        det_scores=np.array([0.5, 0.5, 0.9, 0.1, 0.7]), **gt)
    # class 1 by score: d2 (difficult: ignored), d4 (image 1 has no class-1 object: FP), d0 (TP), d1 (duplicate)
    assert order.tolist() == [2, 4, 0, 1, 3]
    assert match.tolist() == [-1, 0, 1, 0, 1]


def _random_set(rng, n_images, n_classes):
    """Per-image lists with coarse scores (many ties), difficult objects, images without objects
    or without detections, and class ``n_classes`` never in the ground truth."""
    preds, gts = [], []
    for i in range(n_images):
        n_gt = 0 if i % 6 == 0 else int(rng.integers(1, 6))
        xy = rng.integers(0, 60, (n_gt, 2)).astype(float)
        boxes = np.concatenate([xy, xy + rng.integers(4, 40, (n_gt, 2))], axis=1)
        labels = rng.integers(1, n_classes, n_gt)
        gts.append((boxes, labels, rng.random(n_gt) < 0.2))
        n_det = 0 if i % 5 == 0 else int(rng.integers(0, 10))
        near = boxes[rng.integers(0, n_gt, n_det)] if n_gt else rng.integers(0, 60, (n_det, 4)).astype(float)
        jitter = near.reshape(-1, 2, 2) + rng.integers(-4, 5, (n_det, 2, 2))
        preds.append((np.sort(jitter, axis=1).reshape(-1, 4).astype(float), rng.integers(1, n_classes + 1, n_det),
                      rng.integers(0, 5, n_det) / 4.0))
    return preds, gts


@pytest.mark.parametrize("use_07", [True, False])
def test_vectorised_ap_equals_the_loop_by_loop_reference(use_07):
    rng = np.random.default_rng(7)
    for _ in range(5):
        preds, gts = _random_set(rng, n_images=40, n_classes=4)
        expected = reference_voc_ap(
            pred_boxes=[p[0] for p in preds], pred_labels=[p[1] for p in preds], pred_scores=[p[2] for p in preds],
            gt_boxes=[g[0] for g in gts], gt_labels=[g[1] for g in gts], gt_difficult=[g[2] for g in gts],
            num_classes=4, use_07_metric=use_07)
        aps = average_precisions(
            det_images=np.repeat(np.arange(len(preds)), [len(p[2]) for p in preds]),
            det_labels=np.concatenate([p[1] for p in preds]), det_boxes=np.concatenate([p[0] for p in preds]),
            det_scores=np.concatenate([p[2] for p in preds]),
            gt_images=np.repeat(np.arange(len(gts)), [len(g[1]) for g in gts]),
            gt_labels=np.concatenate([g[1] for g in gts]), gt_boxes=np.concatenate([g[0] for g in gts]),
            gt_difficult=np.concatenate([g[2] for g in gts]), num_classes=4, use_07_metric=use_07)
        np.testing.assert_array_equal(aps, expected)  # bit for bit, NaN for the class without ground truth
        assert math.isnan(aps[3]) and np.all(aps[:3] > 0)
        # the evaluator on the same set: the same numbers
        anns = [{"boxes": g[0], "labels": g[1], "difficult": g[2]} for g in gts]
        ev = VOCEvaluator(dataset=_FakeVOC(anns), class_names=["a", "b", "c", "d"],
                          metric="voc07_11point" if use_07 else "voc_area")
        ev.process([{"index": i, "image_id": f"{i:06d}", "height": 100, "width": 100} for i in range(len(preds))],
                   [{"boxes": torch.as_tensor(p[0]), "labels": torch.as_tensor(p[1]),
                     "scores": torch.as_tensor(p[2])} for p in preds])
        per_class = ev.evaluate()["bbox"]["per_class"]
        np.testing.assert_array_equal([per_class[n] for n in "abcd"], expected)
