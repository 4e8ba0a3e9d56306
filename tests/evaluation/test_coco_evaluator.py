import contextlib
import io
import json
import math

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ssd.evaluation import COCO_BACKENDS, COCOEvaluator, coco_results, evaluate_coco, primary_metric
from ssd.evaluation.coco import STAT_NAMES

CLASS_NAMES = ["circle", "square"]
LABEL_TO_CAT = {1: 3, 2: 7}  # original COCO category ids are not contiguous


def _gt_json():
    rng = np.random.default_rng(0)
    images, anns = [], []
    for image_id in (11, 12, 13, 14):
        images.append({"id": image_id, "height": 200, "width": 300, "file_name": f"{image_id}.jpg"})
        for _ in range(3):
            x, y = rng.uniform(0, 150, size=2)
            w, h = rng.uniform(10, 120, size=2)
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": int(rng.choice([3, 7])),
                         "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
    cats = [{"id": 3, "name": "circle"}, {"id": 7, "name": "square"}]
    return {"images": images, "annotations": anns, "categories": cats}


class _FakeCOCODataset:
    def __init__(self, path, label_to_category_id=LABEL_TO_CAT):
        with contextlib.redirect_stdout(io.StringIO()):
            self.coco = COCO(str(path))
        self.ids = sorted(self.coco.getImgIds())
        self.label_to_category_id = dict(label_to_category_id)


def _noisy_predictions(gt):
    rng = np.random.default_rng(1)
    cat_to_label = {v: k for k, v in LABEL_TO_CAT.items()}
    by_image = {}
    for a in gt["annotations"]:
        x, y, w, h = a["bbox"]
        jitter = rng.normal(0, 6, size=4)
        box = [x + jitter[0], y + jitter[1], x + w + jitter[2], y + h + jitter[3]]
        label = cat_to_label[a["category_id"]] if rng.random() > 0.2 else 3 - cat_to_label[a["category_id"]]
        by_image.setdefault(a["image_id"], []).append((box, float(rng.random()), label))
    for image_id in by_image:  # a false positive per image
        by_image[image_id].append(([5.0, 5.0, 40.0, 60.0], float(rng.random()), 1))
    return by_image


def _run(evaluator, dataset, by_image):
    for index, image_id in enumerate(dataset.ids):
        dets = by_image.get(image_id, [])
        info = {"index": index, "image_id": image_id, "height": 200, "width": 300}
        out = {
            "boxes": torch.tensor([d[0] for d in dets], dtype=torch.float32).reshape(-1, 4),
            "scores": torch.tensor([d[1] for d in dets], dtype=torch.float32),
            "labels": torch.tensor([d[2] for d in dets], dtype=torch.int64),
        }
        evaluator.process([info], [out])
    return evaluator.evaluate()


def _assert_same_numbers(actual, expected, backend):
    """pycocotools' own numbers exactly; faster-coco-eval's to the last bits of a float64 (its
    precision is tp / (tp + fp), pycocotools' tp / (tp + fp + eps): 1.0 vs 0.9999999999999998)."""
    if backend == "pycocotools":
        np.testing.assert_array_equal(actual, expected)
    else:
        np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-12)


def _pycocotools_stats(gt_path, det_path):
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(gt_path))
        ev = COCOeval(coco_gt, coco_gt.loadRes(str(det_path)), iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [math.nan if v == -1 else float(v) for v in ev.stats]


@pytest.mark.parametrize("backend", COCO_BACKENDS)
def test_coco_evaluator_equals_pycocotools_on_detections_json(tmp_path, backend):
    gt = _gt_json()
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps(gt))
    dataset = _FakeCOCODataset(gt_path)
    by_image = _noisy_predictions(gt)
    result = _run(COCOEvaluator(dataset=dataset, class_names=CLASS_NAMES, backend=backend), dataset, by_image)

    # detections.json as the inference writes it, then pycocotools directly
    entries = []
    for image_id, dets in by_image.items():
        boxes = torch.tensor([d[0] for d in dets], dtype=torch.float32).double().numpy()
        scores = torch.tensor([d[1] for d in dets], dtype=torch.float32).double().numpy()
        entries += coco_results(image_id=image_id, boxes=boxes, scores=scores,
                                labels=np.array([d[2] for d in dets]), label_to_category_id=LABEL_TO_CAT)
    det_path = tmp_path / "detections.json"
    det_path.write_text(json.dumps(entries))
    metrics = result["bbox"]["metrics"]
    _assert_same_numbers([metrics[k] for k in STAT_NAMES], _pycocotools_stats(gt_path, det_path), backend)
    assert primary_metric(result) == ("AP", metrics["AP"]) and 0.0 < metrics["AP"] < 1.0
    per_class = result["bbox"]["per_class"]
    assert set(per_class) == {"circle", "square"}
    # per-class AP averages to the overall AP when both classes have ground truth
    assert np.mean(list(per_class.values())) == pytest.approx(metrics["AP"])


def _hard_set():
    """Ties in score, a crowd region, images without objects or without detections, and a
    category (id 9, "triangle") without any ground truth."""
    rng = np.random.default_rng(5)
    images, anns, dets = [], [], []
    for image_id in range(1, 31):
        images.append({"id": image_id, "height": 240, "width": 320})
        n = int(rng.integers(0, 5)) if image_id % 7 else 0  # every 7th image has no object
        for _ in range(n):
            x, y = rng.uniform(0, 200, size=2)
            w, h = rng.uniform(4, 110, size=2)  # small, medium and large objects
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": int(rng.choice([3, 7])),
                         "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
            if image_id % 5 == 0:  # no detections at all on every 5th image
                continue
            for _ in range(int(rng.integers(1, 3))):
                j = rng.normal(0, 0.1 * min(w, h), size=4)
                dets.append({"image_id": image_id, "category_id": anns[-1]["category_id"],
                             "bbox": [x + j[0], y + j[1], max(w + j[2], 1.0), max(h + j[3], 1.0)],
                             "score": float(rng.integers(1, 5)) / 4})  # coarse scores: many ties
        if image_id % 6 == 0:  # a crowd region with detections inside it
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": 3,
                         "bbox": [10.0, 10.0, 150.0, 150.0], "area": 22500.0, "iscrowd": 1})
            dets += [{"image_id": image_id, "category_id": 3, "bbox": [20.0 + 30 * k, 20.0, 40.0, 40.0],
                      "score": 0.5} for k in range(3)]
        dets.append({"image_id": image_id, "category_id": 9, "bbox": [1.0, 1.0, 30.0, 30.0], "score": 0.25})
    cats = [{"id": 3, "name": "circle"}, {"id": 7, "name": "square"}, {"id": 9, "name": "triangle"}]
    return {"images": images, "annotations": anns, "categories": cats}, dets


@pytest.mark.parametrize("backend", COCO_BACKENDS)
def test_both_backends_equal_pycocotools_on_ties_crowds_empty_images_and_a_class_without_ground_truth(
        tmp_path, backend):
    gt, dets = _hard_set()
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    expected = _pycocotools_stats(tmp_path / "gt.json", tmp_path / "dt.json")
    result = evaluate_coco(gt, dets, category_names={3: "circle", 7: "square", 9: "triangle"}, backend=backend)
    metrics = result["bbox"]["metrics"]
    _assert_same_numbers([metrics[k] for k in STAT_NAMES], expected, backend)
    assert 0.0 < metrics["AP"] < 1.0
    assert math.isnan(result["bbox"]["per_class"]["triangle"])  # no ground truth: NaN, not 0 or -1
    # the inputs are left as they were (both libraries' loadRes write into the entries)
    assert dets == json.loads((tmp_path / "dt.json").read_text())


def test_class_subset_restricts_the_evaluated_categories(tmp_path):
    # two categories in the file, the model trained on CLASSES ['a'] only: one perfect detection
    gt = {"images": [{"id": 1, "height": 100, "width": 100}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 30], "area": 900,
                           "iscrowd": 0},
                          {"id": 2, "image_id": 1, "category_id": 2, "bbox": [50, 50, 30, 30], "area": 900,
                           "iscrowd": 0}],
          "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    dataset = _FakeCOCODataset(tmp_path / "gt.json", label_to_category_id={1: 1})
    for backend in COCO_BACKENDS:
        ev = COCOEvaluator(dataset=dataset, class_names=["a"], backend=backend)
        ev.process([{"index": 0, "image_id": 1, "height": 100, "width": 100}],
                   [{"boxes": torch.tensor([[10.0, 10, 40, 40]]), "scores": torch.tensor([0.9]),
                     "labels": torch.tensor([1])}])
        result = ev.evaluate()["bbox"]
        assert result["metrics"]["AP"] == pytest.approx(1.0), backend
        assert result["per_class"] == pytest.approx({"a": 1.0})


def test_ground_truth_without_iscrowd_or_area_is_evaluated(tmp_path):
    # kwcoco and many exporters leave iscrowd / area out: COCO's defaults (0, box area) apply
    gt = {"images": [{"id": 1, "height": 100, "width": 100}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 30]}],
          "categories": [{"id": 1, "name": "a"}]}
    dets = [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 30], "score": 0.9}]
    for backend in COCO_BACKENDS:
        metrics = evaluate_coco(gt, dets, category_names={1: "a"}, backend=backend)["bbox"]["metrics"]
        # area 900 < 32 ** 2 from the box: a small object
        assert metrics["AP"] == pytest.approx(1.0) and metrics["APs"] == pytest.approx(1.0)
        assert math.isnan(metrics["APm"]) and math.isnan(metrics["APl"])  # no such objects
    assert "iscrowd" not in gt["annotations"][0]  # the caller's dict is not modified


def test_coco_evaluator_perfect_predictions(tmp_path):
    gt = _gt_json()
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps(gt))
    dataset = _FakeCOCODataset(gt_path)
    cat_to_label = {v: k for k, v in LABEL_TO_CAT.items()}
    by_image = {}
    for a in gt["annotations"]:
        x, y, w, h = a["bbox"]
        by_image.setdefault(a["image_id"], []).append(([x, y, x + w, y + h], 1.0, cat_to_label[a["category_id"]]))
    result = _run(COCOEvaluator(dataset=dataset, class_names=CLASS_NAMES), dataset, by_image)["bbox"]
    assert result["metrics"]["AP"] == pytest.approx(1.0) and result["metrics"]["AP50"] == pytest.approx(1.0)
    assert result["per_class"] == pytest.approx({"circle": 1.0, "square": 1.0})


class _FakeVOC:
    def __init__(self, anns):
        self.anns = anns

    def get_annotation(self, i):
        return self.anns[i]


@pytest.mark.parametrize("backend", COCO_BACKENDS)
def test_coco_metrics_on_a_voc_format_dataset(backend):
    anns = [
        {"boxes": np.array([[10, 10, 50, 60]], np.float32), "labels": np.array([1]), "difficult": np.array([False])},
        {"boxes": np.array([[0, 0, 20, 20], [30, 30, 90, 90]], np.float32), "labels": np.array([2, 1]),
         "difficult": np.array([False, True])},
    ]
    ev = COCOEvaluator(dataset=_FakeVOC(anns), class_names=CLASS_NAMES, backend=backend)
    # VOC ids are strings such as "2008_000001": the evaluator keys the ground truth by index
    infos = [{"index": i, "image_id": f"2008_00000{i}", "height": 100, "width": 100} for i in range(2)]
    ev.process(infos, [
        {"boxes": torch.tensor([[10.0, 10, 50, 60]]), "scores": torch.tensor([0.9]), "labels": torch.tensor([1])},
        # a detection on the difficult object is ignored, not a false positive
        {"boxes": torch.tensor([[0.0, 0, 20, 20], [30, 30, 90, 90]]), "scores": torch.tensor([0.8, 0.95]),
         "labels": torch.tensor([2, 1])},
    ])
    result = ev.evaluate()["bbox"]
    assert result["metrics"]["AP50"] == pytest.approx(1.0)
    assert result["per_class"] == pytest.approx({"circle": 1.0, "square": 1.0})


@pytest.mark.parametrize("backend", COCO_BACKENDS)
def test_no_detections_give_zero(backend):
    anns = [{"boxes": np.array([[10, 10, 50, 60]], np.float32), "labels": np.array([1])}]
    ev = COCOEvaluator(dataset=_FakeVOC(anns), class_names=CLASS_NAMES, backend=backend)
    ev.process([{"index": 0, "image_id": 1, "height": 100, "width": 100}],
               [{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.int64)}])
    result = ev.evaluate()["bbox"]
    assert result["metrics"]["AP50"] == 0.0 and result["per_class"]["circle"] == 0.0
    assert math.isnan(result["per_class"]["square"])  # no ground truth


def test_model_with_its_own_label_layout_is_scored_by_category_id(tmp_path):
    # a converted torchvision COCO head: label l is category id l, "N/A" slots included
    gt = _gt_json()
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps(gt))
    dataset = _FakeCOCODataset(gt_path)
    names = [f"N/A{i}" for i in range(1, 11)]
    names[3 - 1], names[7 - 1] = "circle", "square"
    perfect = {}
    for a in gt["annotations"]:
        x, y, w, h = a["bbox"]
        perfect.setdefault(a["image_id"], []).append(([x, y, x + w, y + h], 0.9, a["category_id"]))
    evaluator = COCOEvaluator(dataset=dataset, class_names=names,
                              label_to_category_id={l: l for l in range(1, 11)})
    result = _run(evaluator, dataset, perfect)["bbox"]
    assert result["metrics"]["AP"] == pytest.approx(1.0)
    assert set(result["per_class"]) == {"circle", "square"}


def test_unknown_backend_is_a_value_error():
    with pytest.raises(ValueError, match="detectron"):
        COCOEvaluator(dataset=None, class_names=["a"], backend="detectron")
