"""Each bad-input case produces its documented error or warning."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
from data_fixtures import voc_object, write_split, write_voc_image

from ssd.config import get_cfg
from ssd.data import CorruptImageError, VOCDataset, sanitize_boxes
from ssd.data.build import build_transform


def test_degenerate_nan_and_outside_boxes(tmp_path, caplog):
    root = str(tmp_path)
    objects = [
        voc_object("dog", (10, 10, 5, 20)),  # x2 <= x1
        voc_object("cat", ("nan", 1, 5, 5)),
        voc_object("car", (70, 50, 100, 90)),  # partly outside the 80 x 60 image
        voc_object("bus", (90, 70, 120, 95)),  # entirely outside
        voc_object("cow", (2, 2, 4, 4)),
    ]
    write_voc_image(root, "img", objects)
    write_split(root, "s", ["img"])
    with caplog.at_level(logging.WARNING, logger="ssd.data"):
        ds = VOCDataset(root=root, split="s")
    ann = ds.get_annotation(0)
    np.testing.assert_array_equal(ann["boxes"], [[69, 49, 80, 60], [1, 1, 4, 4]])
    xml = os.path.join(root, "Annotations", "img.xml")
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"{xml}: object 0 ('dog') is degenerate" in m and "dropped" in m for m in messages)
    assert any(f"{xml}: object 1 ('cat') has non-finite" in m for m in messages)
    assert any(f"{xml}: object 2 ('car') extends outside" in m and "clipped" in m for m in messages)
    assert any(f"{xml}: object 3 ('bus')" in m and "dropped" in m for m in messages)
    assert len(messages) == 4


def test_sanitize_keeps_valid_boxes_untouched(caplog):
    boxes = np.array([[0, 0, 10, 10]], dtype=np.float32)
    with caplog.at_level(logging.WARNING):
        assert sanitize_boxes(boxes, width=10, height=10, source="f").tolist() == [True]
    assert caplog.records == []


def test_unknown_class_names_file_name_and_known_classes(tmp_path):
    root = str(tmp_path)
    write_voc_image(root, "img", [voc_object("dragon", (1, 1, 5, 5))])
    write_split(root, "s", ["img"])
    xml = os.path.join(root, "Annotations", "img.xml")
    with pytest.raises(ValueError) as err:
        VOCDataset(root=root, split="s", class_names=["circle", "square"])
    assert str(err.value) == (
        f"{xml}: object 0 has class 'dragon', which is not in the class list ['circle', 'square']"
    )


def test_missing_annotations_listed(tmp_path):
    root = str(tmp_path)
    write_voc_image(root, "ok", [])
    write_split(root, "s", ["ok"] + [f"gone{i}" for i in range(7)])
    with pytest.raises(FileNotFoundError) as err:
        VOCDataset(root=root, split="s")
    text = str(err.value)
    assert "7 annotation files missing" in text
    assert os.path.join(root, "Annotations", "gone0.xml") in text
    assert os.path.join(root, "Annotations", "gone4.xml") in text
    assert "gone5.xml" not in text and "... and 2 more" in text


def test_missing_images_listed(tmp_path):
    root = str(tmp_path)
    write_voc_image(root, "ok", [])
    write_voc_image(root, "noimg", [], image=False)
    write_split(root, "s", ["ok", "noimg"])
    with pytest.raises(FileNotFoundError, match=r"1 images missing:\n  .*JPEGImages/noimg\.jpg"):
        VOCDataset(root=root, split="s")


def test_missing_split_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"ImageSets/Main/nope\.txt"):
        VOCDataset(root=str(tmp_path), split="nope")


def _corrupt_dataset(tmp_path, **kw):
    root = str(tmp_path)
    for name in ("good", "bad"):
        write_voc_image(root, name, [voc_object("dog", (1, 1, 5, 5))])
    bad = os.path.join(root, "JPEGImages", "bad.jpg")
    with open(bad, "wb") as f:
        f.write(b"\xff\xd8 this is not a jpeg")
    write_split(root, "s", ["good", "bad"])
    return VOCDataset(root=root, split="s", training=True, **kw), bad


def test_corrupt_image_raises_naming_the_file(tmp_path):
    ds, bad = _corrupt_dataset(tmp_path)
    assert ds[0][2]["image_id"] == "good"
    with pytest.raises(CorruptImageError, match=f"corrupt\\): {bad}"):
        ds[1]


def test_corrupt_image_skipped_when_allowed(tmp_path, caplog):
    ds, bad = _corrupt_dataset(tmp_path, skip_corrupt=True)
    with caplog.at_level(logging.WARNING):
        for seed in range(5):
            image, target, info = ds[(1, seed)]
            assert info["image_id"] == "good" and info["index"] == 0
            assert target["labels"].tolist() == [12]
    assert sum(bad in r.getMessage() and "replaced" in r.getMessage() for r in caplog.records) >= 5


def test_an_unknown_augmentation_names_the_key_and_the_registered_pipelines():
    # checked by the data builder (the registry is the list), not by config validation: config
    # imports nothing of ssd.data
    cfg = get_cfg()
    cfg.INPUT.AUGMENTATION = "nope"
    with pytest.raises(ValueError) as error:
        build_transform(cfg, is_train=True)
    assert str(error.value) == "INPUT.AUGMENTATION = 'nope'; expected one of ['caffe', 'lufficc', 'ssdlite']"
