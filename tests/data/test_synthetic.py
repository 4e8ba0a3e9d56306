"""The synthetic dataset: deterministic, boxes tight on visible pixels, readable by both formats."""

from __future__ import annotations

import os

import numpy as np
import pytest

from ssd.data import COCODataset, VOCDataset
from ssd.data.synthetic import SHAPE_CLASSES, render_image, spec_for, write_demo_images


def test_render_is_deterministic_and_boxes_are_valid():
    spec = spec_for("medium")
    a = render_image(np.random.default_rng([1, 2]), spec)
    b = render_image(np.random.default_rng([1, 2]), spec)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    image, boxes, labels = a
    h, w = image.shape[:2]
    assert spec.min_side <= h <= spec.max_side and spec.min_side <= w <= spec.max_side
    assert boxes.dtype == np.float32 and labels.dtype == np.int64
    assert spec.min_objects <= len(boxes) <= spec.max_objects
    assert ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).all()
    assert (boxes >= 0).all() and (boxes[:, [0, 2]] <= w).all() and (boxes[:, [1, 3]] <= h).all()
    assert set(labels.tolist()) <= set(range(1, len(SHAPE_CLASSES) + 1))


def test_difficulty_controls_size_and_count():
    easy, hard = spec_for("easy"), spec_for("hard")
    rng = np.random.default_rng(0)
    easy_sizes, hard_counts = [], []
    for _ in range(20):
        image, boxes, _ = render_image(rng, easy)
        easy_sizes += list(
            np.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])) / min(image.shape[:2])
        )
        hard_counts.append(len(render_image(rng, hard)[1]))
    assert np.median(easy_sizes) > 0.2  # medium-to-large objects for the quickstart
    assert max(hard_counts) > easy.max_objects


def test_unknown_difficulty():
    with pytest.raises(
        ValueError, match=r"difficulty = 'insane'; expected one of \['easy', 'medium', 'hard'\]"
    ):
        spec_for("insane")


def test_written_datasets_parse(synthetic_root):
    voc = VOCDataset(
        root=os.path.join(synthetic_root, "synthetic_voc"), split="trainval", class_names=SHAPE_CLASSES
    )
    coco = COCODataset(
        images=os.path.join(synthetic_root, "synthetic_coco", "train"),
        annotations=os.path.join(synthetic_root, "synthetic_coco", "annotations", "instances_train.json"),
    )
    assert len(voc) == 12 and len(coco) == 6
    assert coco.class_names == list(SHAPE_CLASSES)
    # the generator's boxes survive the VOC round trip exactly (1-based inclusive <-> continuous)
    spec = spec_for("easy", min_side=120, max_side=160)
    _, boxes, labels = render_image(np.random.default_rng([3, 0, 0]), spec)
    np.testing.assert_array_equal(voc.get_annotation(0)["boxes"], boxes)
    np.testing.assert_array_equal(voc.get_annotation(0)["labels"], labels)


def test_demo_images(tmp_path):
    paths = write_demo_images(str(tmp_path / "demo"), count=3, seed=1)
    assert [os.path.basename(p) for p in paths] == ["demo_000.jpg", "demo_001.jpg", "demo_002.jpg"]
    assert all(os.path.getsize(p) > 1000 for p in paths)


def test_yolo_layout_reads_back_the_rendered_boxes(tmp_path):
    from ssd.data.datasets import YOLODataset
    from ssd.data.synthetic import _rng, write_yolo

    spec = spec_for("easy", min_side=120, max_side=160)
    write_yolo(str(tmp_path), train=3, test=2, seed=7, spec=spec)
    train = YOLODataset(images=str(tmp_path / "images" / "train"))  # names from data.yaml
    assert train.class_names == list(SHAPE_CLASSES) and len(train) == 3
    assert len(YOLODataset(images=str(tmp_path / "images" / "val"))) == 2
    for k in range(3):
        _, boxes, labels = render_image(_rng(7, "train", k), spec)
        # 6 normalised decimals: within 0.5e-6 of a side of at most 160 px
        np.testing.assert_allclose(train.get_annotation(k)["boxes"], boxes, atol=1e-4)
        np.testing.assert_array_equal(train.get_annotation(k)["labels"], labels)
