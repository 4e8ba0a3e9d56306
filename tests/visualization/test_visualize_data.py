import os
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from ssd.data.synthetic import spec_for, write_coco, write_voc
from ssd.tools.visualize_data import NAME_STRIP, main, render_tile, to_bgr_uint8

SMALL = replace(spec_for("easy"), min_side=64, max_side=90, clutter=0, texture=0.0)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("browse")
    write_voc(str(root / "synthetic_voc"), train=5, test=3, seed=0, spec=SMALL)
    write_coco(str(root / "synthetic_coco"), train=5, test=3, seed=0, spec=SMALL)
    return root


def _opts(root, fmt):
    train, test = {"voc": ("synthetic_voc_trainval", "synthetic_voc_test"),
                   "coco": ("synthetic_coco_train", "synthetic_coco_test")}[fmt]
    return ["DATASETS.ROOT", str(root), "DATASETS.TRAIN", f"('{train}',)", "DATASETS.TEST", f"('{test}',)",
            "DATALOADER.NUM_WORKERS", "0", "SOLVER.BATCH_SIZE", "2", "INPUT.IMAGE_SIZE", "96"]


@pytest.mark.parametrize("fmt, config", [("voc", "ssd300_vgg16_voc0712.yaml"), ("coco", "ssdlite320_mnv3_coco.yaml")])
def test_train_split_writes_one_grid_per_group_of_augmented_images(data_root, tmp_path, fmt, config):
    out = tmp_path / "grids"
    assert main(["--config-file", os.path.join(ROOT, "configs", config), "--split", "train", "--num", "5",
                 "--per-grid", "2", "--cell-size", "64", "--output", str(out), *_opts(data_root, fmt)]) == 0
    assert sorted(os.listdir(out)) == ["train_grid_000.jpg", "train_grid_001.jpg", "train_grid_002.jpg"]
    full, last = cv2.imread(str(out / "train_grid_000.jpg")), cv2.imread(str(out / "train_grid_002.jpg"))
    assert full.shape == (64 + NAME_STRIP, 2 * 64 + 2, 3)  # two tiles side by side, a 2-pixel gap
    assert last.shape == (64 + NAME_STRIP, 64, 3)  # the fifth image alone


def test_test_split_draws_the_ground_truth_as_loaded(data_root, tmp_path):
    out = tmp_path / "grids"
    # more images asked than the test set has: all 3, in 2 grids of 2
    assert main(["--config-file", os.path.join(ROOT, "configs", "ssdlite320_mnv3_coco.yaml"), "--split", "test",
                 "--num", "10", "--per-grid", "2", "--output", str(out), *_opts(data_root, "coco")]) == 0
    assert sorted(os.listdir(out)) == ["test_grid_000.jpg", "test_grid_001.jpg"]


def test_loader_images_become_bgr_uint8():
    rgb = torch.tensor([[[10.0]], [[-3.0]], [[300.4]]])  # lufficc: float32 0-255, unclipped
    assert to_bgr_uint8(rgb).tolist() == [[[255, 0, 10]]]
    assert to_bgr_uint8(torch.tensor([[[1]], [[2]], [[3]]], dtype=torch.uint8)).tolist() == [[[3, 2, 1]]]
    assert to_bgr_uint8(rgb).dtype == np.uint8


def test_train_tiles_are_the_loaders_augmented_images_with_their_boxes(data_root, tmp_path):
    from ssd.config import load_config
    from ssd.data import build_train_loader

    config = os.path.join(ROOT, "configs", "ssd300_vgg16_voc0712.yaml")
    out = tmp_path / "grids"
    assert main(["--config-file", config, "--split", "train", "--num", "1", "--per-grid", "1", "--cell-size", "96",
                 "--output", str(out), *_opts(data_root, "voc")]) == 0
    written = cv2.imread(str(out / "train_grid_000.jpg")).astype(int)
    images, targets, infos = next(iter(build_train_loader(load_config(config, _opts(data_root, "voc")))))
    seen = to_bgr_uint8(images[0])
    boxes, labels = targets[0]["boxes"].numpy(), targets[0]["labels"].numpy()
    name = os.path.basename(infos[0]["file_name"])
    names = ["circle", "square", "triangle", "star"]
    expected = render_tile((seen, boxes, labels, np.zeros(len(labels), bool), name), class_names=names, cell=96)
    undrawn = render_tile((seen, boxes[:0], labels[:0], np.zeros(0, bool), name), class_names=names, cell=96)
    assert len(labels)
    # the file holds the loader's image with its boxes (up to JPEG), not the image alone
    error = np.abs(written - expected.astype(int))[:96].mean()
    assert error < 6 and error < np.abs(written - undrawn.astype(int))[:96].mean() / 2
