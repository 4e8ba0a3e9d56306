"""tools/test.py from --ckpt alone (the stored config), its warnings and errors, and
tools/eval_detections.py scoring test.py's detections.json to the same numbers."""

import json
import logging
import os
from dataclasses import replace

import pytest

from ssd.data.synthetic import spec_for, write_coco
from ssd.tools import eval_detections
from ssd.tools import test as test_tool

from ..engine.tiny_model import CONFIG, write_tiny_checkpoint


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt_tools")
    write_coco(str(root / "synthetic_coco"), train=0, test=4, seed=5,
               spec=replace(spec_for("easy"), min_side=100, max_side=140))
    data = ["DATASETS.ROOT", str(root), "DATASETS.TEST", "('synthetic_coco_test',)", "DATALOADER.NUM_WORKERS", "0"]
    return {"ckpt": write_tiny_checkpoint(str(root / "model.pth")), "data": data, "root": root}


@pytest.fixture
def ssd_logs(monkeypatch):
    monkeypatch.setattr(logging.getLogger("ssd"), "propagate", True)  # setup_logger turns it off


def test_test_tool_from_the_checkpoint_alone_and_eval_detections_agree(setup, tmp_path, capsys):
    out = tmp_path / "out"
    assert test_tool.main(["--ckpt", setup["ckpt"], *setup["data"], "OUTPUT_DIR", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "synthetic_coco_test: AP = " in printed
    assert printed.count("per-class AP:") == 1  # issue 20: the evaluator's log, then the print, showed it twice
    result_dir = out / "inference" / "synthetic_coco_test"
    expected = json.loads((result_dir / "metrics.json").read_text())
    written = tmp_path / "metrics.json"
    assert eval_detections.main(["--config-file", CONFIG, "--detections", str(result_dir / "detections.json"),
                                 "--output", str(written), *setup["data"]]) == 0
    # compared as text: NaN (no objects of a size) equals itself there
    assert json.dumps(json.loads(written.read_text()), sort_keys=True) == json.dumps(
        {"synthetic_coco_test": expected}, sort_keys=True)
    assert "synthetic_coco_test: AP = " in capsys.readouterr().out


def test_eval_detections_drops_unknown_ids_with_a_warning(setup, tmp_path, caplog):
    dataset_ids = json.loads((setup["root"] / "synthetic_coco" / "annotations" / "instances_test.json").read_text())
    image_id = dataset_ids["images"][0]["id"]
    detections = tmp_path / "d.json"
    detections.write_text(json.dumps([
        {"image_id": image_id, "category_id": 10, "bbox": [1, 2, 30, 40], "score": 0.9},
        {"image_id": 99999, "category_id": 10, "bbox": [1, 2, 30, 40], "score": 0.9},
        {"image_id": image_id, "category_id": 77, "bbox": [1, 2, 30, 40], "score": 0.9},
    ]))
    with caplog.at_level(logging.WARNING):
        assert eval_detections.main(["--config-file", CONFIG, "--detections", str(detections), *setup["data"]]) == 0
    assert "dropped 1 detections with image ids the test set does not have (first: [99999])" in caplog.text
    assert "dropped 1 detections with category ids the test set does not have (first: [77])" in caplog.text
    detections.write_text(json.dumps([{"image_id": 99999, "category_id": 10, "bbox": [1, 2, 3, 4], "score": 1}]))
    assert eval_detections.main(["--config-file", CONFIG, "--detections", str(detections), *setup["data"]]) == 1
    detections.write_text(json.dumps({"not": "a list"}))
    assert eval_detections.main(["--config-file", CONFIG, "--detections", str(detections), *setup["data"]]) == 1


def test_an_override_the_checkpoint_cannot_honour_is_refused(setup, caplog, ssd_logs):
    """Issue 20 item 6: such an override used to be ignored with a warning (export: silently)."""
    from ssd.checkpoint import load_detector
    from ssd.engine.predictor import Predictor

    expected = ("MODEL.NUM_CLASSES = 21 cannot be honoured: " + setup["ckpt"] + " has 4 classes (+ background = 5), "
                "and its head decides (drop the override, or fine-tune with ssd train MODEL.WEIGHTS)")
    with pytest.raises(ValueError) as err:
        test_tool.resolve_config(None, setup["ckpt"], ["MODEL.NUM_CLASSES", "21", *setup["data"]])
    assert str(err.value) == expected
    for load in (load_detector, Predictor.from_checkpoint):
        with pytest.raises(ValueError) as err:
            load(setup["ckpt"], opts=["MODEL.NUM_CLASSES", "21"])
        assert str(err.value) == expected
    with caplog.at_level(logging.WARNING):
        cfg = test_tool.resolve_config(None, setup["ckpt"], ["MODEL.NUM_CLASSES", "5", *setup["data"]])
    assert cfg.MODEL.NUM_CLASSES == 5 and "honoured" not in caplog.text


def test_test_tool_writes_into_its_own_folder_unless_told(setup, tmp_path, monkeypatch):
    """Issue 20 item 5: ssd test --ckpt RUN/model_best.pth overwrote the run's inference/*/metrics.json."""
    run = tmp_path / "run"
    ckpt = write_tiny_checkpoint(str(run / "model_best.pth"), opts=["OUTPUT_DIR", str(run)])
    monkeypatch.chdir(tmp_path)
    assert test_tool.main(["--ckpt", ckpt, *setup["data"]]) == 0
    assert (tmp_path / "outputs" / "test" / "run_model_best" / "inference" / "synthetic_coco_test" /
            "metrics.json").is_file()
    assert sorted(os.listdir(run)) == ["model_best.pth"]


def test_an_empty_test_set_list_is_an_error(setup, capsys):
    assert test_tool.main(["--ckpt", setup["ckpt"], "DATASETS.TEST", "()"]) == 1
    assert "error: DATASETS.TEST is empty in the config stored in " in capsys.readouterr().err
    with pytest.raises(SystemExit):
        test_tool.main([])  # neither --ckpt nor --config-file


@pytest.mark.parametrize("fmt", ["voc", "coco"])
def test_eval_detections_gives_ap_1_on_the_ground_truth_itself(fmt, tmp_path, capsys):
    from ssd.config import load_config
    from ssd.data import build_dataset
    from ssd.data.synthetic import write_voc

    writer = write_voc if fmt == "voc" else write_coco
    writer(str(tmp_path / f"synthetic_{fmt}"), train=0, test=3, seed=1,
           spec=replace(spec_for("easy"), min_side=100, max_side=120))
    test_set = "synthetic_voc_test" if fmt == "voc" else "synthetic_coco_test"
    opts = ["DATASETS.ROOT", str(tmp_path), "DATASETS.TEST", f"('{test_set}',)"]
    dataset = build_dataset(load_config(CONFIG, opts), test_set, is_train=False)
    mapping = getattr(dataset, "label_to_category_id", None)
    entries = []
    for i in range(len(dataset)):
        ann, info = dataset.get_annotation(i), dataset.get_img_info(i)
        for (x1, y1, x2, y2), label in zip(ann["boxes"].tolist(), ann["labels"].tolist(), strict=True):
            entries.append({"image_id": info["image_id"], "category_id": mapping[label] if mapping else label,
                            "bbox": [x1, y1, x2 - x1, y2 - y1], "score": 1.0})
    detections, written = tmp_path / "gt.json", tmp_path / "metrics.json"
    detections.write_text(json.dumps(entries))
    assert eval_detections.main(["--config-file", CONFIG, "--detections", str(detections), "--output", str(written),
                                 *opts]) == 0
    metrics = json.loads(written.read_text())[test_set]
    flat = json.dumps(metrics)  # as text: holds for the flat metrics and for ssd.evaluation.schema's
    assert ('"mAP": 1.0' if fmt == "voc" else '"AP": 1.0') in flat, flat


def test_eval_detections_refuses_a_negative_width_and_warns_about_an_empty_file(tmp_path, caplog):
    # issue 20: a box [x, y, -5, 10] was scored; an empty file scored AP 0 without a word
    from ssd.tools.eval_detections import load_detections

    path = tmp_path / "dets.json"
    path.write_text(json.dumps([{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5},
                                {"image_id": 1, "category_id": 1, "bbox": [1, 2, -5, 10], "score": 0.5}]))
    with pytest.raises(ValueError, match=rf"^{path}: entry 1 has a box that is not \[x, y, width >= 0"):
        load_detections(str(path))
    path.write_text("[]")
    with caplog.at_level(logging.WARNING):
        assert load_detections(str(path)) == []
    assert f"{path} holds no detections: every AP below is 0" in caplog.text


@pytest.mark.parametrize("fmt", ["voc", "coco", "yolo"])
def test_eval_detections_on_test_tools_own_detections_gives_its_numbers(fmt, tmp_path):
    """ssd test -> detections.json -> ssd eval: the same metrics for every format (VOC-format sets
    name images by dataset index there; ssd eval used to drop all of them as unknown ids)."""
    from ssd.data.synthetic import write_voc, write_yolo

    writer = {"voc": write_voc, "coco": write_coco, "yolo": write_yolo}[fmt]
    writer(str(tmp_path / f"synthetic_{fmt}"), train=0, test=3, seed=2,
           spec=replace(spec_for("easy"), min_side=100, max_side=120))
    test_set = {"voc": "synthetic_voc_test", "coco": "synthetic_coco_test", "yolo": "synthetic_yolo_val"}[fmt]
    data = ["DATASETS.ROOT", str(tmp_path), "DATASETS.TEST", f"('{test_set}',)", "DATALOADER.NUM_WORKERS", "0"]
    ckpt = write_tiny_checkpoint(str(tmp_path / "model.pth"), class_names=["circle", "square", "triangle", "star"])
    assert test_tool.main(["--ckpt", ckpt, *data, "OUTPUT_DIR", str(tmp_path / "out")]) == 0
    result_dir = tmp_path / "out" / "inference" / test_set
    expected = json.loads((result_dir / "metrics.json").read_text())
    assert len(json.loads((result_dir / "detections.json").read_text())) > 0
    written = tmp_path / "metrics.json"
    assert eval_detections.main(["--config-file", CONFIG, "--detections", str(result_dir / "detections.json"),
                                 "--output", str(written), *data]) == 0
    assert json.dumps(json.loads(written.read_text()), sort_keys=True) == json.dumps({test_set: expected},
                                                                                    sort_keys=True)
