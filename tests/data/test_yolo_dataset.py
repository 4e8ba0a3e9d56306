"""YOLO folders: exact boxes, class names, layout rules and the same bad-input rules as VOC / COCO."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
from data_fixtures import write_jpeg

from ssd.data import resolve_dataset
from ssd.data.datasets import YOLODataset
from ssd.data.datasets.yolo import default_labels_dir
from ssd.data.formats import FORMATS


def _yolo(tmp_path, labels: dict[str, str], *, names="names:\n  0: cat\n  1: dog\n", images=("a.jpg", "b.jpg")):
    """``root/images/train/<images>`` (100 wide, 50 high), ``root/labels/train/<labels>``, ``root/data.yaml``."""
    root = tmp_path / "yolo"
    for name in images:
        write_jpeg(str(root / "images" / "train" / name), 50, 100)
    os.makedirs(root / "labels" / "train", exist_ok=True)
    for name, text in labels.items():
        (root / "labels" / "train" / name).write_text(text)
    if names is not None:
        (root / "data.yaml").write_text(names)
    return str(root / "images" / "train")


def test_normalised_centre_size_becomes_xyxy_pixels_and_class_plus_one(tmp_path):
    images = _yolo(tmp_path, {"a.txt": "1 0.5 0.5 0.2 0.4\n0 0.1 0.2 0.2 0.4\n", "b.txt": ""})
    ds = YOLODataset(images=images)
    assert ds.class_names == ["cat", "dog"]
    ann = ds.get_annotation(0)
    # cx 0.5 * 100 = 50, w 0.2 * 100 = 20 -> x 40..60; cy 0.5 * 50 = 25, h 0.4 * 50 = 20 -> y 15..35
    np.testing.assert_allclose(ann["boxes"], [[40, 15, 60, 35], [0, 0, 20, 20]], atol=1e-5)
    np.testing.assert_array_equal(ann["labels"], [2, 1])
    assert not ann["difficult"].any()
    assert len(ds.get_annotation(1)["boxes"]) == 0  # empty label file: a background image
    assert [ds.get_img_info(i)["image_id"] for i in range(2)] == [1, 2]
    assert ds.format.evaluator_kind == "coco" and ds.label_to_category_id == {1: 1, 2: 2}
    anns = ds.coco.loadAnns(ds.coco.getAnnIds(imgIds=[1]))
    assert [a["category_id"] for a in anns] == [2, 1]
    np.testing.assert_allclose(anns[0]["bbox"], [40, 15, 20, 20], atol=1e-5)


def test_polygon_line_gives_its_bounding_box(tmp_path):
    images = _yolo(tmp_path, {"a.txt": "0 0.1 0.2 0.5 0.1 0.3 0.9\n"}, images=("a.jpg",))
    np.testing.assert_allclose(YOLODataset(images=images).get_annotation(0)["boxes"], [[10, 5, 50, 45]], atol=1e-5)


def test_missing_label_file_is_background_and_orphan_labels_warned(tmp_path, caplog):
    images = _yolo(tmp_path, {"a.txt": "0 0.5 0.5 0.2 0.2\n", "zzz.txt": "0 0.5 0.5 0.2 0.2\n"})
    with caplog.at_level(logging.INFO, logger="ssd.data"):
        ds = YOLODataset(images=images)
    assert len(ds) == 2 and len(ds.get_annotation(1)["boxes"]) == 0
    messages = [r.getMessage() for r in caplog.records]
    assert any("1 label files have no image" in m and "zzz.txt" in m for m in messages)
    assert any("1 of 2 images have no label file" in m for m in messages)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0 0.5 0.5 0.2", r"a.txt:1: 4 values in '0 0.5 0.5 0.2'; expected 'class cx cy w h'"),
        ("2 0.5 0.5 0.2 0.2", r"a.txt:1: class 2 is not an index of the 2 classes \(0..1\)"),
        ("0.5 0.5 0.5 0.2 0.2", r"a.txt:1: class 0.5 is not an index"),
        ("cat 0.5 0.5 0.2 0.2", r"a.txt:1: not numbers"),
    ],
)
def test_malformed_lines_name_the_file_and_line(tmp_path, line, message):
    images = _yolo(tmp_path, {"a.txt": line + "\n"}, images=("a.jpg",))
    with pytest.raises(ValueError, match=message):
        YOLODataset(images=images)


def test_boxes_outside_are_clipped_and_degenerate_dropped_with_warnings(tmp_path, caplog):
    images = _yolo(tmp_path, {"a.txt": "0 0.95 0.5 0.2 0.2\n1 0.5 0.5 0 0.2\n"}, images=("a.jpg",))
    with caplog.at_level(logging.WARNING, logger="ssd.data"):
        ds = YOLODataset(images=images)
    np.testing.assert_allclose(ds.get_annotation(0)["boxes"], [[85, 20, 100, 30]], atol=1e-5)
    label_file = os.path.join(os.path.dirname(os.path.dirname(images)), "labels", "train", "a.txt")
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"{label_file}: object 0 ('cat') extends outside" in m for m in messages)
    assert any(f"{label_file}: object 1 ('dog') is degenerate" in m for m in messages)


def test_no_class_names_is_a_clear_error(tmp_path):
    images = _yolo(tmp_path, {}, names=None, images=("a.jpg",))
    with pytest.raises(FileNotFoundError, match=r"no class names; set CLASSES"):
        YOLODataset(images=images)


def test_names_from_a_names_file_or_a_list_in_data_yaml(tmp_path):
    images = _yolo(tmp_path, {}, names="names: [x, y, z]\n", images=("a.jpg",))
    assert YOLODataset(images=images).class_names == ["x", "y", "z"]
    os.remove(os.path.join(os.path.dirname(os.path.dirname(images)), "data.yaml"))
    with open(os.path.join(images, "obj.names"), "w") as f:  # darknet, beside the images
        f.write("p\nq\n")
    assert YOLODataset(images=images).class_names == ["p", "q"]
    assert YOLODataset(images=images, class_names=["u", "v"]).class_names == ["u", "v"]


def test_labels_folder_follows_ultralytics_rule():
    assert default_labels_dir("/d/images/train") == "/d/labels/train"
    assert default_labels_dir("/d/images") == "/d/labels"
    assert default_labels_dir("/images/x/images/val") == "/images/x/labels/val"  # the last component only
    assert default_labels_dir("/d/pics") == "/d/pics"  # darknet: labels beside the images


def test_catalog_entry_and_unknown_keys(tmp_path):
    spec = resolve_dataset("y", catalog={"y": {"FORMAT": "yolo", "IMAGES": "images/train"}}, data_root="r")
    assert spec.format == "yolo" and spec.paths == {"IMAGES": "images/train"}
    assert FORMATS.get("yolo").required_keys == ("IMAGES",)
    with pytest.raises(ValueError, match=r"unknown keys \['LABEL'\]"):
        resolve_dataset("y", catalog={"y": {"FORMAT": "yolo", "IMAGES": "i", "LABEL": "l"}}, data_root="r")


def test_class_names_from_data_yaml_as_a_one_item_list_and_bad_names(tmp_path):
    from ssd.data import load_class_names

    path = tmp_path / "data.yaml"
    path.write_text("path: .\nnames:\n  1: b\n  0: a\n")
    assert load_class_names([str(path)]) == ["a", "b"]  # DATASETS.CLASSES: ["data.yaml"]; keys give the order
    path.write_text("names: {0: a, 2: c}\n")
    with pytest.raises(ValueError, match=r"keys must be the class indices 0..1, got \[0, 2\]"):
        load_class_names(str(path))
    path.write_text("nc: 3\n")
    with pytest.raises(ValueError, match=r"no 'names' list or mapping"):
        load_class_names(str(path))


def test_unreadable_image_names_the_file_or_is_left_out_when_allowed(tmp_path, caplog):
    from ssd.data import CorruptImageError

    images = _yolo(tmp_path, {"a.txt": "0 0.5 0.5 0.2 0.2\n"})
    with open(os.path.join(images, "b.jpg"), "wb") as f:
        f.write(b"not a jpeg")
    with pytest.raises(CorruptImageError, match=r"b\.jpg"):
        YOLODataset(images=images)
    with caplog.at_level(logging.WARNING, logger="ssd.data"):
        ds = YOLODataset(images=images, training=True, skip_corrupt=True)
    assert [os.path.basename(r.path) for r in ds.records] == ["a.jpg"]
    assert any("b.jpg" in r.getMessage() and "left out" in r.getMessage() for r in caplog.records)
