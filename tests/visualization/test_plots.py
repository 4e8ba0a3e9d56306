import json
import os
from dataclasses import replace

import cv2
import numpy as np
import pytest

from ssd.data.datasets import COCODataset, VOCDataset
from ssd.data.synthetic import SHAPE_CLASSES, spec_for, write_coco, write_voc
from ssd.visualization.plots import training_series, write_eval_plots, write_training_curves

SMALL = replace(spec_for("easy"), min_side=64, max_side=80, clutter=0, texture=0.0)


class _Writer:
    def __init__(self):
        self.images, self.flushed = [], 0

    def add_image(self, tag, image, step, dataformats):
        self.images.append((tag, image.shape, image.dtype, step, dataformats))

    def flush(self):
        self.flushed += 1


def _results_from_ground_truth(dataset, label_to_category, *, voc_ids=False):
    """Each object detected exactly, as COCO result entries, plus one false detection per image.
    ``voc_ids``: the entries of VOC-format sets (the index as ``image_id``, ``source_image_id``)."""
    results = []
    for i in range(len(dataset)):
        image_id = dataset.get_img_info(i)["image_id"]
        ids = {"image_id": i, "source_image_id": image_id} if voc_ids else {"image_id": image_id}
        ann = dataset.get_annotation(i)
        for (x1, y1, x2, y2), label in zip(ann["boxes"].tolist(), ann["labels"].tolist(), strict=True):
            results.append({**ids, "category_id": label_to_category(label), "bbox": [x1, y1, x2 - x1, y2 - y1],
                            "score": 0.9})
        results.append({**ids, "category_id": label_to_category(1), "bbox": [0, 0, 2, 2], "score": 0.8})
    return results


def _check_outputs(paths, out_dir, dataset):
    assert sorted(os.path.basename(p) for p in paths) == ["confusion_matrix.json", "confusion_matrix.png",
                                                          "pr_curves.png"]
    for p in paths:
        assert os.path.dirname(p) == str(out_dir) and os.path.getsize(p) > 0
    assert cv2.imread(str(out_dir / "pr_curves.png")) is not None
    saved = json.loads((out_dir / "confusion_matrix.json").read_text())
    matrix = np.array(saved["matrix"])
    assert saved["labels"] == ["background", *SHAPE_CLASSES]
    counts = np.bincount(np.concatenate([dataset.get_annotation(i)["labels"] for i in range(len(dataset))]),
                         minlength=len(SHAPE_CLASSES) + 1)
    assert np.diag(matrix)[1:].tolist() == counts[1:].tolist()  # every object found, as its own class
    assert matrix[1:, 0].sum() == 0  # nothing missed
    assert matrix[0].tolist() == [0, len(dataset), 0, 0, 0]  # the one false "circle" per image


def test_eval_plots_on_a_coco_dataset_map_category_ids_and_reach_tensorboard(tmp_path):
    write_coco(str(tmp_path / "coco"), train=0, test=3, seed=1, spec=SMALL)
    dataset = COCODataset(images=str(tmp_path / "coco" / "test"),
                          annotations=str(tmp_path / "coco" / "annotations" / "instances_test.json"))
    results = _results_from_ground_truth(dataset, lambda label: dataset.label_to_category_id[label])
    assert {r["category_id"] for r in results} <= {10, 20, 30, 40}
    out_dir = tmp_path / "inference" / "synthetic_coco_test"
    writer = _Writer()
    paths = write_eval_plots(str(out_dir), dataset=dataset, detections=results, class_names=dataset.class_names,
                             score_threshold=0.5, writer=writer, step=7)
    _check_outputs(paths, out_dir, dataset)
    assert [(t, s) for t, _, _, s, _ in writer.images] == [("eval/synthetic_coco_test/pr_curves", 7),
                                                            ("eval/synthetic_coco_test/confusion_matrix", 7)]
    assert all(len(shape) == 3 and shape[2] == 3 and dtype == np.uint8 for _, shape, dtype, _, _ in writer.images)


@pytest.mark.parametrize("voc_ids", [False, True])
def test_eval_plots_on_a_voc_dataset(tmp_path, voc_ids):
    write_voc(str(tmp_path / "voc"), train=0, test=3, seed=2, spec=SMALL)
    dataset = VOCDataset(root=str(tmp_path / "voc"), split="test", class_names=SHAPE_CLASSES)
    results = _results_from_ground_truth(dataset, lambda label: label, voc_ids=voc_ids)
    out_dir = tmp_path / "voc_test"
    _check_outputs(write_eval_plots(str(out_dir), dataset=dataset, detections=results,
                                    class_names=dataset.class_names, score_threshold=0.5), out_dir, dataset)


def test_confusion_threshold_drops_low_scores(tmp_path):
    write_voc(str(tmp_path / "voc"), train=0, test=2, seed=2, spec=SMALL)
    dataset = VOCDataset(root=str(tmp_path / "voc"), split="test", class_names=SHAPE_CLASSES)
    results = _results_from_ground_truth(dataset, lambda label: label)
    write_eval_plots(str(tmp_path / "out"), dataset=dataset, detections=results, class_names=SHAPE_CLASSES,
                     score_threshold=0.95)
    matrix = np.array(json.loads((tmp_path / "out" / "confusion_matrix.json").read_text())["matrix"])
    assert matrix[0].sum() == 0 and np.diag(matrix).sum() == 0  # nothing kept: every object missed
    assert matrix[1:, 0].sum() == sum(len(dataset.get_annotation(i)["labels"]) for i in range(2))


def _metrics_rows():
    # as LoggingHook writes them: the losses as top-level loss* keys
    rows = [{"iteration": i, "loss_box": 1.0 / i, "loss_cls": 2.0 / i, "loss": 3.0 / i, "lr": 0.01 * i, "time": 0.1,
             "data_time": 0.01, "memory_mb": 0.0, "skipped_nonfinite": 0} for i in (10, 20, 30)]
    # a resumed run logs iteration 30 again: the later line wins
    rows.append({**rows[-1], "loss_cls": 0.5, "loss_box": 0.25, "loss": 0.75})
    return rows


def _eval_rows():
    def result(ap):
        return {"synthetic_coco_test": {"bbox": {"primary": "AP", "metrics": {"AP": ap, "AP50": 0.9},
                                                 "per_class": {}}}}

    # NaN is written as null (schema.json_safe): that point is left out of the curve
    return [{"iteration": 20, "results": result(0.25)}, {"iteration": 30, "results": result(0.5)},
            {"iteration": 40, "results": result(None)}]


def test_training_series_reads_the_schema_and_keeps_the_last_line_per_iteration():
    losses, lr, primary = training_series(_metrics_rows(), _eval_rows())
    assert sorted(losses) == ["loss", "loss_box", "loss_cls"]
    assert losses["loss_cls"] == ([10, 20, 30], [0.2, 0.1, 0.5])
    assert lr == ([10, 20, 30], pytest.approx([0.1, 0.2, 0.3]))
    name, its, values = primary["synthetic_coco_test"]
    assert (name, its, values[:2]) == ("AP", [20, 30, 40], [0.25, 0.5]) and np.isnan(values[2])
    assert training_series([{"iteration": 5, "losses": {"loss": 1.0}, "lr": 0.1}], [])[0] == {"loss": ([5], [1.0])}


def test_training_curves_file_and_tensorboard_image(tmp_path):
    with open(tmp_path / "metrics.jsonl", "w") as f:
        f.write("".join(json.dumps(r) + "\n" for r in _metrics_rows()) + '{"iteration": 40, "los')  # killed mid-line
    with open(tmp_path / "eval_history.jsonl", "w") as f:
        f.write("".join(json.dumps(r) + "\n" for r in _eval_rows()))
    writer = _Writer()
    assert write_training_curves(str(tmp_path), writer=writer) == [str(tmp_path / "training_curves.png")]
    assert cv2.imread(str(tmp_path / "training_curves.png")) is not None
    assert [(t, s) for t, _, _, s, _ in writer.images] == [("train/curves", 40)]  # the last iteration logged


def test_no_training_curves_without_logs(tmp_path):
    assert write_training_curves(str(tmp_path)) == []
    assert not (tmp_path / "training_curves.png").exists()


def test_eval_plots_without_any_detection(tmp_path):
    write_voc(str(tmp_path / "voc"), train=0, test=2, seed=2, spec=SMALL)
    dataset = VOCDataset(root=str(tmp_path / "voc"), split="test", class_names=SHAPE_CLASSES)
    paths = write_eval_plots(str(tmp_path / "out"), dataset=dataset, detections=[], class_names=SHAPE_CLASSES,
                             score_threshold=0.5)
    assert len(paths) == 3
    matrix = np.array(json.loads((tmp_path / "out" / "confusion_matrix.json").read_text())["matrix"])
    assert matrix[1:, 0].sum() == matrix.sum() == sum(len(dataset.get_annotation(i)["labels"]) for i in range(2))
