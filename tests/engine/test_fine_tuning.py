"""``ssd train`` with MODEL.WEIGHTS from a run on other classes: the fine-tuning workflow end to end."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import torch

from ssd import cli
from ssd.checkpoint.io import load_checkpoint
from ssd.data.synthetic import spec_for, write_coco

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "configs", "ssdlite320_mnv3_coco.yaml")


def _opts(root, name, out, max_iter):
    return ["MODEL.NUM_CLASSES", "0", "MODEL.BACKBONE.WIDTH_MULT", "0.25", "MODEL.DEVICE", "cpu",
            "INPUT.IMAGE_SIZE", "96", "DATASETS.ROOT", str(root),
            "DATASETS.TRAIN", f"('{name}_train',)", "DATASETS.TEST", "()",
            "DATALOADER.NUM_WORKERS", "0", "SOLVER.MAX_ITER", str(max_iter), "SOLVER.BATCH_SIZE", "2",
            "SOLVER.WARMUP_ITERS", "1", "SOLVER.LR", "0.01", "SOLVER.CHECKPOINT_PERIOD", "2", "OUTPUT_DIR", str(out)]


def test_ssd_train_fine_tunes_a_run_of_other_classes(tmp_path):
    small = replace(spec_for("easy"), min_side=96, max_side=120)
    write_coco(str(tmp_path / "first"), train=4, test=1, seed=1, spec=replace(small, classes=("circle", "square",
                                                                                               "triangle")))
    write_coco(str(tmp_path / "second"), train=4, test=1, seed=2, spec=replace(small, classes=("star", "square",
                                                                                                "circle")))
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("_BASE_: " + CONFIG + "\nDATASETS:\n  CATALOG:\n" + "".join(
        f"    {n}_train:\n      FORMAT: coco\n      IMAGES: {tmp_path}/{n}/train\n"
        f"      ANNOTATIONS: {tmp_path}/{n}/annotations/instances_train.json\n" for n in ("first", "second")))
    assert cli.main(["train", "--config-file", str(catalog), *_opts(tmp_path, "first", tmp_path / "a", 2)]) == 0
    source = load_checkpoint(str(tmp_path / "a" / "model_0000002.pth"))
    weights = str(tmp_path / "a" / "model_0000002.pth")
    assert cli.main(["train", "--config-file", str(catalog), *_opts(tmp_path, "second", tmp_path / "b", 2),
                     "MODEL.WEIGHTS", weights]) == 0
    report = json.loads((tmp_path / "b" / "weights_transfer.json").read_text())
    assert report["source"] == weights and report["fresh"] == ["star"] and report["mismatched"] == {}
    assert [(c["class"], c["from"]) for c in report["carried"]] == [
        ("__background__", "__background__"), ("square", "square"), ("circle", "circle")]
    tuned = load_checkpoint(str(tmp_path / "b" / "model_0000002.pth"))
    assert tuned["class_names"] == ["star", "square", "circle"] and tuned["iteration"] == 2
    backbone = "backbone.features.0.0.weight"  # trained on, so not the source's, but of its shape
    assert tuned["model"][backbone].shape == source["model"][backbone].shape
    assert not torch.equal(tuned["model"][backbone], source["model"][backbone])
