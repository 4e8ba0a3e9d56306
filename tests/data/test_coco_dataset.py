"""COCO parsing: non-contiguous category ids, xywh -> xyxy, crowd and empty images."""

from __future__ import annotations

import numpy as np
import pytest

from ssd.data import COCODataset, coco_xywh_to_xyxy


def test_category_ids_map_to_contiguous_labels_and_back(coco_files):
    images, ann = coco_files
    ds = COCODataset(images=images, annotations=ann)
    # sorted by category id: car (3) -> 1, train (7) -> 2, kite (11) -> 3
    assert ds.class_names == ["car", "train", "kite"]
    assert ds.category_id_to_label == {3: 1, 7: 2, 11: 3}
    assert ds.label_to_category_id == {1: 3, 2: 7, 3: 11}
    for cat, label in ds.category_id_to_label.items():
        assert ds.label_to_category_id[label] == cat


def test_exact_boxes_crowd_flagged_images_sorted_by_id(coco_files):
    images, ann = coco_files
    ds = COCODataset(images=images, annotations=ann)
    assert [ds.get_img_info(i)["image_id"] for i in range(len(ds))] == [1, 2, 5]
    a = ds.get_annotation(0)
    np.testing.assert_allclose(a["boxes"], [[10, 5, 30, 20], [0.5, 1.5, 30.5, 41.5], [40, 10, 90, 40]])
    assert a["labels"].tolist() == [1, 2, 3]
    assert a["difficult"].tolist() == [False, False, True]  # iscrowd -> difficult for evaluators
    assert ds.get_annotation(1)["boxes"].shape == (0, 4)  # image without annotations kept for eval
    assert ds.get_annotation(2)["labels"].tolist() == [3]


def test_crowd_is_not_a_training_target_and_empty_images_switch(coco_files):
    images, ann = coco_files
    train = COCODataset(images=images, annotations=ann, training=True, keep_empty=False)
    assert [train.get_img_info(i)["image_id"] for i in range(len(train))] == [1, 5]
    assert train[0][1]["labels"].tolist() == [1, 2]
    with_empty = COCODataset(images=images, annotations=ann, training=True, keep_empty=True)
    assert len(with_empty) == 3 and with_empty[1][1]["boxes"].shape == (0, 4)


def test_explicit_class_list_selects_and_orders(coco_files):
    images, ann = coco_files
    ds = COCODataset(images=images, annotations=ann, class_names=["kite", "car"])
    assert ds.category_id_to_label == {11: 1, 3: 2}
    assert ds.get_annotation(0)["labels"].tolist() == [2, 1]  # the train is not a class here
    with pytest.raises(ValueError, match=r"classes \['boat'\].*'car', 'kite', 'train'"):
        COCODataset(images=images, annotations=ann, class_names=["boat"])


def test_xywh_to_xyxy():
    np.testing.assert_array_equal(coco_xywh_to_xyxy([[1, 2, 3, 4]]), [[1, 2, 4, 6]])
