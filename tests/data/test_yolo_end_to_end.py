"""A YOLO folder trains and evaluates end to end (tools/train.py), scored COCO-style."""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import replace

import pytest
import torch

from ssd.config import get_cfg
from ssd.data import build_dataset
from ssd.data.datasets import VOCDataset
from ssd.data.synthetic import SHAPE_CLASSES, spec_for, write_voc
from ssd.data.writers import write_yolo_dataset
from ssd.evaluation.build import build_evaluator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def yolo_root(tmp_path_factory) -> str:
    """Synthetic shapes written as YOLO: images/{train,val}, labels/{train,val}, data.yaml."""
    root = tmp_path_factory.mktemp("yolo")
    voc = str(root / "voc")
    write_voc(voc, train=4, test=3, seed=5, spec=replace(spec_for("easy"), min_side=120, max_side=160))
    for split, out_split in (("trainval", "train"), ("test", "val")):
        ds = VOCDataset(root=voc, split=split, class_names=SHAPE_CLASSES)
        write_yolo_dataset(ds.records, ds.class_names, str(root / "yolo"), split=out_split)
    return str(root / "yolo")


def _ap(result: dict) -> float:
    """The COCO AP, in the evaluation schema ({task: {primary, metrics, per_class}}) or the flat form."""
    return result["bbox"]["metrics"]["AP"] if "bbox" in result else result["AP"]


def test_perfect_detections_on_a_yolo_test_set_score_ap_1(yolo_root):
    cfg = get_cfg()
    cfg.DATASETS.CATALOG["shapes_val"] = {"FORMAT": "yolo", "IMAGES": os.path.join(yolo_root, "images", "val")}
    cfg.INPUT.IMAGE_SIZE = 64
    dataset = build_dataset(cfg, "shapes_val", is_train=False)
    assert dataset.format.evaluator_kind == "coco" and dataset.class_names == list(SHAPE_CLASSES)
    evaluator = build_evaluator(cfg, dataset, dataset.class_names)
    for i in range(len(dataset)):
        ann, info = dataset.get_annotation(i), {"index": i, **dataset.get_img_info(i)}
        boxes = torch.from_numpy(ann["boxes"])
        output = {"boxes": boxes, "scores": torch.ones(len(boxes)), "labels": torch.from_numpy(ann["labels"])}
        evaluator.process([info], [output])
    assert _ap(evaluator.evaluate()) == pytest.approx(1.0)


def test_yolo_trains_and_evaluates_with_the_train_tool(yolo_root, tmp_path):
    cfg_file = tmp_path / "yolo.yaml"
    cfg_file.write_text(
        f"_BASE_: {os.path.join(ROOT, 'configs', 'ssdlite320_mnv3_coco.yaml')}\n"
        "DATASETS:\n"
        "  TRAIN: ('shapes_train',)\n  TEST: ('shapes_val',)\n"
        "  CATALOG:\n"
        f"    shapes_train: {{FORMAT: yolo, IMAGES: {yolo_root}/images/train, CLASSES: {yolo_root}/data.yaml}}\n"
        f"    shapes_val: {{FORMAT: yolo, IMAGES: {yolo_root}/images/val}}\n"
    )
    out = tmp_path / "out"
    opts = [
        "MODEL.NUM_CLASSES", "0", "MODEL.BACKBONE.WIDTH_MULT", "0.25", "MODEL.DEVICE", "cpu",
        "INPUT.IMAGE_SIZE", "128", "DATALOADER.NUM_WORKERS", "0", "SOLVER.MAX_ITER", "2",
        "SOLVER.BATCH_SIZE", "2", "SOLVER.WARMUP_ITERS", "1", "TEST.BATCH_SIZE", "3",
        "TEST.CONFIDENCE_THRESHOLD", "0.2", "OUTPUT_DIR", str(out),
    ]
    spec = importlib.util.spec_from_file_location("tool_train", os.path.join(ROOT, "tools", "train.py"))
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    assert train.main(["--config-file", str(cfg_file), *opts]) == 0
    assert (out / "last_checkpoint").read_text().strip() == "model_0000002.pth"
    result = json.loads((out / "inference" / "shapes_val" / "metrics.json").read_text())
    assert 0.0 <= _ap(result) <= 1.0  # COCO metrics: the YOLO format's evaluator kind
    detections = json.loads((out / "inference" / "shapes_val" / "detections.json").read_text())
    assert {d["image_id"] for d in detections} <= {1, 2, 3}
    assert {d["category_id"] for d in detections} <= {1, 2, 3, 4}  # category id = YOLO class + 1
