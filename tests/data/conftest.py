"""Fixtures: hand-written VOC / COCO datasets with known boxes, and a tiny synthetic dataset."""

from __future__ import annotations

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tests/ has no packages: find data_fixtures
from data_fixtures import voc_object, write_jpeg, write_split, write_voc_image  # noqa: E402

from ssd.config import get_cfg  # noqa: E402
from ssd.data.synthetic import spec_for, write_coco, write_voc  # noqa: E402


@pytest.fixture
def voc_root(tmp_path) -> str:
    """Two images: 'a' with a dog and a difficult cat, 'b' with only a difficult person."""
    root = str(tmp_path / "VOC2007")
    write_voc_image(
        root, "a", [voc_object("dog", (1, 2, 10, 20)), voc_object("cat", (5, 5, 50, 40), difficult=1)]
    )
    write_voc_image(root, "b", [voc_object("person", (11, 21, 80, 60), difficult=1)])
    write_split(root, "trainval", ["a", "b"])
    return root


# Categories with non-contiguous ids, in a shuffled order in the file.
COCO_CATEGORIES = [{"id": 11, "name": "kite"}, {"id": 3, "name": "car"}, {"id": 7, "name": "train"}]


@pytest.fixture
def coco_files(tmp_path) -> tuple[str, str]:
    """Images 1 (two objects + a crowd), 2 (none), 5 (one kite); returns (image folder, json path)."""
    images = str(tmp_path / "images")
    for name in ("one.jpg", "two.jpg", "five.jpg"):
        write_jpeg(os.path.join(images, name), 50, 100)
    data = {
        "images": [
            {"id": 5, "file_name": "five.jpg", "height": 50, "width": 100},
            {"id": 1, "file_name": "one.jpg", "height": 50, "width": 100},
            {"id": 2, "file_name": "two.jpg", "height": 50, "width": 100},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 5, 20, 15], "iscrowd": 0, "area": 300},
            {
                "id": 2,
                "image_id": 1,
                "category_id": 7,
                "bbox": [0.5, 1.5, 30, 40],
                "iscrowd": 0,
                "area": 1200,
            },
            {"id": 3, "image_id": 1, "category_id": 11, "bbox": [40, 10, 50, 30], "iscrowd": 1, "area": 1500},
            {"id": 4, "image_id": 5, "category_id": 11, "bbox": [60, 0, 40, 50], "iscrowd": 0, "area": 2000},
        ],
        "categories": COCO_CATEGORIES,
    }
    path = str(tmp_path / "annotations" / "instances.json")
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as f:
        json.dump(data, f)
    return images, path


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> str:
    """A data root holding tiny synthetic_voc and synthetic_coco datasets (the built-in names)."""
    root = str(tmp_path_factory.mktemp("data"))
    spec = spec_for("easy", min_side=120, max_side=160)
    write_voc(os.path.join(root, "synthetic_voc"), train=12, test=5, seed=3, spec=spec)
    write_coco(os.path.join(root, "synthetic_coco"), train=6, test=5, seed=4, spec=spec)
    return root


@pytest.fixture
def synthetic_cfg(synthetic_root):
    cfg = get_cfg()
    cfg.DATASETS.ROOT = synthetic_root
    cfg.DATASETS.TRAIN = ("synthetic_voc_trainval",)
    cfg.DATASETS.TEST = ("synthetic_voc_test",)
    cfg.INPUT.IMAGE_SIZE = 64
    cfg.SOLVER.BATCH_SIZE = 4
    cfg.SOLVER.MAX_ITER = 7
    cfg.TEST.BATCH_SIZE = 2
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.MODEL.NUM_CLASSES = 0
    return cfg
