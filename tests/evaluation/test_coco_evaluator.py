import contextlib
import io
import json

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ssd.evaluation import COCOEvaluator, coco_results
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
    def __init__(self, path):
        with contextlib.redirect_stdout(io.StringIO()):
            self.coco = COCO(str(path))
        self.ids = sorted(self.coco.getImgIds())
        self.label_to_category_id = dict(LABEL_TO_CAT)


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


def _run(evaluator, dataset, by_image, perfect_gt=None):
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


def test_coco_evaluator_equals_pycocotools_on_detections_json(tmp_path):
    gt = _gt_json()
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps(gt))
    dataset = _FakeCOCODataset(gt_path)
    by_image = _noisy_predictions(gt)
    metrics = _run(COCOEvaluator(dataset=dataset, class_names=CLASS_NAMES), dataset, by_image)

    # detections.json as the inference writes it, then pycocotools directly
    entries = []
    for image_id, dets in by_image.items():
        boxes = torch.tensor([d[0] for d in dets], dtype=torch.float32).double().numpy()
        scores = torch.tensor([d[1] for d in dets], dtype=torch.float32).double().numpy()
        entries += coco_results(image_id=image_id, boxes=boxes, scores=scores,
                                labels=np.array([d[2] for d in dets]), label_to_category_id=LABEL_TO_CAT)
    det_path = tmp_path / "detections.json"
    det_path.write_text(json.dumps(entries))
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(gt_path))
        ev = COCOeval(coco_gt, coco_gt.loadRes(str(det_path)), iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert [metrics[k] for k in STAT_NAMES] == [float(v) for v in ev.stats]
    assert 0.0 < metrics["AP"] < 1.0
    assert set(metrics["per_class_AP"]) == {"circle", "square"}
    # per-class AP averages to the overall AP when both classes have ground truth
    assert np.mean(list(metrics["per_class_AP"].values())) == pytest.approx(metrics["AP"])


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
    metrics = _run(COCOEvaluator(dataset=dataset, class_names=CLASS_NAMES), dataset, by_image)
    assert metrics["AP"] == pytest.approx(1.0) and metrics["AP50"] == pytest.approx(1.0)
    assert metrics["per_class_AP"] == pytest.approx({"circle": 1.0, "square": 1.0})


class _FakeVOC:
    def __init__(self, anns):
        self.anns = anns

    def get_annotation(self, i):
        return self.anns[i]


def test_coco_metrics_on_a_voc_format_dataset():
    anns = [
        {"boxes": np.array([[10, 10, 50, 60]], np.float32), "labels": np.array([1]), "difficult": np.array([False])},
        {"boxes": np.array([[0, 0, 20, 20], [30, 30, 90, 90]], np.float32), "labels": np.array([2, 1]),
         "difficult": np.array([False, True])},
    ]
    ev = COCOEvaluator(dataset=_FakeVOC(anns), class_names=CLASS_NAMES)
    infos = [{"index": i, "image_id": f"img{i}", "height": 100, "width": 100} for i in range(2)]
    ev.process(infos, [
        {"boxes": torch.tensor([[10.0, 10, 50, 60]]), "scores": torch.tensor([0.9]), "labels": torch.tensor([1])},
        # a detection on the difficult object is ignored, not a false positive
        {"boxes": torch.tensor([[0.0, 0, 20, 20], [30, 30, 90, 90]]), "scores": torch.tensor([0.8, 0.95]),
         "labels": torch.tensor([2, 1])},
    ])
    metrics = ev.evaluate()
    assert metrics["AP50"] == pytest.approx(1.0)
    assert metrics["per_class_AP"] == pytest.approx({"circle": 1.0, "square": 1.0})


def test_no_detections_give_zero():
    anns = [{"boxes": np.array([[10, 10, 50, 60]], np.float32), "labels": np.array([1])}]
    ev = COCOEvaluator(dataset=_FakeVOC(anns), class_names=CLASS_NAMES)
    ev.process([{"index": 0, "image_id": 1, "height": 100, "width": 100}],
               [{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.int64)}])
    assert ev.evaluate()["AP50"] == 0.0


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
    metrics = _run(evaluator, dataset, perfect)
    assert metrics["AP"] == pytest.approx(1.0)
    assert set(metrics["per_class_AP"]) == {"circle", "square"}
