"""The one class-layout type: names, label -> category id, how results name an image, and the
rule that picks the layout a model is scored with on a test set."""

import pytest

from ssd.convert import ClassLayout as ConvertedLayout
from ssd.data.class_layout import ClassLayout, scoring_layout


def test_results_name_images_by_id_with_category_ids_and_by_index_without():
    info = {"index": 3, "image_id": "000123", "height": 10, "width": 10}
    assert ClassLayout(["a", "b"]).result_image_id(info) == 3
    assert ClassLayout(["a", "b"], {1: 7, 2: 9}).result_image_id({**info, "image_id": 123}) == 123


def test_categories_read_back_as_labels():
    assert ClassLayout(["a", "b"], {1: 7, 2: 9}).labels_of_categories() == {7: 1, 9: 2}
    assert ClassLayout(["a", "b"]).labels_of_categories() == {1: 1, 2: 2}
    assert ClassLayout(["a", "b"], {1: 7, 2: 9}).category_id(2) == 9 and ClassLayout(["a"]).category_id(1) == 1
    with pytest.raises(ValueError, match=r"label_to_category_id has labels \[1\], expected 1..2"):
        ClassLayout(["a", "b"], {1: 7})


def test_checkpoint_round_trip_and_the_converters_use_the_same_type():
    layout = ClassLayout(["a", "b"], {"1": 7, "2": 9})  # JSON-style keys are normalised
    assert ClassLayout.from_checkpoint(layout.checkpoint_fields()) == ClassLayout(["a", "b"], {1: 7, 2: 9})
    assert ClassLayout.from_checkpoint({"model": {}}) is None
    assert ConvertedLayout is ClassLayout


def test_scoring_layout_matches_by_category_id_or_requires_equal_class_lists():
    coco91 = ClassLayout(["person", "N/A", "car"], {1: 1, 2: 2, 3: 3})
    coco_set = ClassLayout(["person", "car"], {1: 1, 2: 3})
    assert scoring_layout(coco91, coco_set, name="t") == (coco91, True)
    with pytest.raises(ValueError, match=r"test set 't' has category ids \[5\] that the model does not predict"):
        scoring_layout(coco91, ClassLayout(["person", "x"], {1: 1, 2: 5}), name="t")
    assert scoring_layout(ClassLayout(["person", "car"]), coco_set, name="t") == (coco_set, False)
    with pytest.raises(ValueError, match=r"test set 't' has classes \['person', 'car'\] but the model was trained "
                                         r"on \['car', 'person'\]"):
        scoring_layout(ClassLayout(["car", "person"]), coco_set, name="t")
