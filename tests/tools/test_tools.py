"""train.py -> test.py -> demo.py end to end on a tiny real model and a tiny synthetic COCO set."""

import contextlib
import importlib.util
import io
import json
import os
from dataclasses import replace

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ssd.data.synthetic import spec_for, write_coco
from ssd.evaluation.coco import STAT_NAMES
from ssd.evaluation.writer import read_metrics

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _tool(name):
    spec = importlib.util.spec_from_file_location(f"tool_{name}", os.path.join(ROOT, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("tools")
    write_coco(str(root / "synthetic_coco"), train=4, test=5, seed=3,
               spec=replace(spec_for("easy"), min_side=120, max_side=160))
    out = root / "out"
    opts = [
        "MODEL.NUM_CLASSES", "0", "MODEL.BACKBONE.WIDTH_MULT", "0.25", "MODEL.DEVICE", "cpu",
        "INPUT.IMAGE_SIZE", "128", "DATASETS.ROOT", str(root),
        "DATASETS.TRAIN", "('synthetic_coco_train',)", "DATASETS.TEST", "('synthetic_coco_test',)",
        "DATALOADER.NUM_WORKERS", "0", "SOLVER.MAX_ITER", "2", "SOLVER.BATCH_SIZE", "2",
        "SOLVER.WARMUP_ITERS", "1", "SOLVER.LR", "0.01", "TEST.BATCH_SIZE", "4",
        "TEST.CONFIDENCE_THRESHOLD", "0.2", "OUTPUT_DIR", str(out),
    ]
    cfg_file = os.path.join(ROOT, "configs", "ssdlite320_mnv3_coco.yaml")
    assert _tool("train").main(["--config-file", cfg_file, *opts]) == 0
    return {"root": root, "out": out, "opts": opts, "cfg": cfg_file}


def test_train_writes_checkpoint_metrics_and_detections(trained):
    out = trained["out"]
    assert (out / "last_checkpoint").read_text().strip() == "model_0000002.pth"
    metrics = json.loads((out / "inference" / "synthetic_coco_test" / "metrics.json").read_text())
    assert metrics["bbox"]["primary"] == "AP" and set(metrics["bbox"]["metrics"]) == set(STAT_NAMES)
    assert set(metrics["bbox"]["per_class"]) == {"circle", "square", "triangle", "star"}


def test_test_tool_metrics_equal_pycocotools_on_its_detections(trained, tmp_path, capsys):
    out = trained["out"]
    ckpt_url = (out / "model_0000002.pth").as_uri()
    opts = [*trained["opts"][:-1], str(tmp_path)]  # a fresh OUTPUT_DIR: the checkpoint comes from --ckpt
    os.environ["TORCH_HOME"] = str(tmp_path / "torch_home")  # the URL is cached under it
    try:
        assert _tool("test").main(["--config-file", trained["cfg"], "--ckpt", ckpt_url, *opts]) == 0
    finally:
        del os.environ["TORCH_HOME"]
    assert "synthetic_coco_test: AP = " in capsys.readouterr().out
    result_dir = tmp_path / "inference" / "synthetic_coco_test"
    metrics = read_metrics(str(result_dir))["bbox"]["metrics"]
    detections = json.loads((result_dir / "detections.json").read_text())
    assert detections and {d["category_id"] for d in detections} <= {10, 20, 30, 40}  # original ids
    gt_file = trained["root"] / "synthetic_coco" / "annotations" / "instances_test.json"
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_file))
        ev = COCOeval(gt, gt.loadRes(str(result_dir / "detections.json")), iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    # the default backend (faster-coco-eval) equals pycocotools to the last bits of a float64
    np.testing.assert_allclose([metrics[k] for k in STAT_NAMES],
                               [float("nan") if v == -1 else float(v) for v in ev.stats], rtol=0, atol=1e-12)
    # boxes are in original pixels: inside each image
    sizes = {im["id"]: (im["width"], im["height"]) for im in gt.dataset["images"]}
    for d in detections:
        x, y, w, h = d["bbox"]
        assert 0 <= x and 0 <= y and x + w <= sizes[d["image_id"]][0] + 1e-3 and y + h <= sizes[d["image_id"]][1] + 1e-3


def test_demo_writes_one_image_and_one_entry_per_input(trained, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name, shape in (("a.jpg", (90, 120, 3)), ("B.PNG", (64, 64, 3)), ("c.webp", (100, 80, 3))):
        cv2.imwrite(str(images / name), rng.integers(0, 255, shape, dtype=np.uint8))
    (images / "notes.txt").write_text("not an image")
    output = tmp_path / "annotated"
    ckpt = str(trained["out"] / "model_0000002.pth")
    assert _tool("demo").main(["--config-file", trained["cfg"], "--ckpt", ckpt, "--images", str(images),
                               "--output", str(output), "--score-threshold", "0.0", *trained["opts"]]) == 0
    assert sorted(os.listdir(output)) == ["B.PNG", "a.jpg", "c.webp", "detections.json"]
    entries = json.loads((output / "detections.json").read_text())
    assert [e["file_name"] for e in entries] == ["B.PNG", "a.jpg", "c.webp"]
    assert cv2.imread(str(output / "a.jpg")).shape == (90, 120, 3)
    for e in entries:
        assert e["detections"], "score threshold 0 keeps the model's detections"
        for det in e["detections"]:
            x1, y1, x2, y2 = det["box"]
            assert 0 <= x1 <= x2 <= e["width"] and 0 <= y1 <= y2 <= e["height"]
            assert det["class_name"] == ["circle", "square", "triangle", "star"][det["label"] - 1]
