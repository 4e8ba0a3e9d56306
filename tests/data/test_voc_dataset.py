"""VOC parsing: exact boxes and labels, difficult handling, class lists from files."""

from __future__ import annotations

import os

import numpy as np
import pytest
from data_fixtures import voc_object, write_split, write_voc_image

from ssd.data import VOC_CLASSES, VOCDataset, load_class_names, voc_to_xyxy

DOG, CAT, PERSON = (VOC_CLASSES.index(n) + 1 for n in ("dog", "cat", "person"))


def test_voc_to_xyxy_convention():
    # 1-based inclusive pixels 1..10 are the 10 columns [0, 10) in continuous coordinates.
    assert voc_to_xyxy(1, 2, 10, 20) == [0.0, 1.0, 10.0, 20.0]


def test_parses_exact_boxes_labels_and_difficult(voc_root):
    ds = VOCDataset(root=voc_root, split="trainval")
    assert len(ds) == 2 and ds.class_names == list(VOC_CLASSES)
    ann = ds.get_annotation(0)
    np.testing.assert_array_equal(ann["boxes"], np.array([[0, 1, 10, 20], [4, 4, 50, 40]], dtype=np.float32))
    assert ann["boxes"].dtype == np.float32 and ann["labels"].dtype == np.int64
    np.testing.assert_array_equal(ann["labels"], [DOG, CAT])
    np.testing.assert_array_equal(ann["difficult"], [False, True])
    assert ds.get_img_info(1)["image_id"] == "b"
    assert (ds.get_img_info(1)["height"], ds.get_img_info(1)["width"]) == (60, 80)


def test_difficult_left_out_of_training_targets(voc_root):
    train = VOCDataset(root=voc_root, split="trainval", training=True, keep_empty=False)
    # image "b" has only a difficult object: no training target left, so it is dropped
    assert len(train) == 1
    _, target, info = train[0]
    assert info["image_id"] == "a"
    assert target["labels"].tolist() == [DOG]
    assert target["boxes"].tolist() == [[0.0, 1.0, 10.0, 20.0]]
    # evaluation still sees the difficult cat, flagged
    assert train.get_annotation(0)["difficult"].tolist() == [False, True]


def test_keep_difficult_and_keep_empty(voc_root):
    ds = VOCDataset(root=voc_root, split="trainval", training=True, keep_difficult=True, keep_empty=False)
    assert len(ds) == 2
    assert ds[1][1]["labels"].tolist() == [PERSON]
    ds = VOCDataset(root=voc_root, split="trainval", training=True, keep_empty=True)
    assert len(ds) == 2 and ds[1][1]["labels"].tolist() == []
    assert ds[1][1]["boxes"].shape == (0, 4)


def test_custom_classes_from_text_file(tmp_path):
    root = str(tmp_path / "shapes")
    write_voc_image(root, "x", [voc_object("star", (3, 3, 9, 9)), voc_object("circle", (1, 1, 4, 4))])
    write_split(root, "test", ["x"])
    classes = tmp_path / "classes.txt"
    classes.write_text("circle\n\nstar\n# a comment\nsquare\n")
    names = load_class_names(str(classes))
    assert names == ["circle", "star", "square"]
    ds = VOCDataset(root=root, split="test", class_names=names)
    assert ds.get_annotation(0)["labels"].tolist() == [2, 1]
    assert load_class_names([str(classes)]) == names  # a one-item list holding the path (yacs lists)


def test_duplicate_class_names_rejected():
    with pytest.raises(ValueError, match=r"duplicate class names \['a'\]"):
        load_class_names(["a", "b", "a"])


@pytest.mark.parametrize("bad_id", ["../../secret", "/etc/secret"])
def test_split_id_outside_root_refused_unless_allowed(voc_root, bad_id):
    # ImageSets ids climbing out of the root are refused like COCO file names (issue 20)
    split_file = os.path.join(voc_root, "ImageSets", "Main", "evil.txt")
    with open(split_file, "w") as f:
        f.write(f"{bad_id}\n")
    with pytest.raises(ValueError) as e:
        VOCDataset(root=voc_root, split="evil")
    assert str(e.value) == (
        f"{split_file}: file_name {bad_id!r} lies outside the image folder {os.path.join(voc_root, 'Annotations')}; "
        "move the image into it, or set DATASETS.ALLOW_OUTSIDE_ROOT True to read it anyway")
    # allowed: the check passes and the (missing) annotation file is what is reported
    with pytest.raises(FileNotFoundError) as e2:
        VOCDataset(root=voc_root, split="evil", allow_outside_root=True)
    assert "lies outside" not in str(e2.value)
