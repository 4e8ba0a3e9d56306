"""COCO files as exporters write them: defaults filled, what cannot be defaulted named, orphans warned."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os

import numpy as np
import pytest
from data_fixtures import write_jpeg
from pycocotools.cocoeval import COCOeval

from ssd.data import COCODataset
from ssd.data.datasets import load_coco


def _write(tmp_path, data: dict) -> tuple[str, str]:
    images = str(tmp_path / "images")
    for info in data.get("images", []):
        if "file_name" in info:
            write_jpeg(os.path.join(images, info["file_name"]), 40, 60)  # 60 wide, 40 high
    path = str(tmp_path / "instances.json")
    with open(path, "w") as f:
        json.dump(data, f)
    return images, path


def _kwcoco_like() -> dict:
    """No iscrowd, no area, no annotation ids, and image 2 without width/height (kwcoco's output)."""
    return {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 60, "height": 40},
            {"id": 2, "file_name": "b.jpg"},
        ],
        "annotations": [
            {"image_id": 1, "category_id": 5, "bbox": [10, 5, 20, 10]},
            {"image_id": 2, "category_id": 5, "bbox": [0, 0, 30, 40]},
        ],
        "categories": [{"id": 5, "name": "thing"}],
    }


def test_missing_iscrowd_area_ids_and_size_get_the_standard_defaults(tmp_path):
    images, path = _write(tmp_path, _kwcoco_like())
    ds = COCODataset(images=images, annotations=path)
    anns = ds.coco.loadAnns(ds.coco.getAnnIds())
    assert [a["iscrowd"] for a in anns] == [0, 0]
    assert [a["area"] for a in anns] == [200.0, 1200.0]  # width x height of the box
    assert [a["id"] for a in anns] == [1, 2]
    assert ds.coco.imgs[2]["height"] == 40 and ds.coco.imgs[2]["width"] == 60  # read from b.jpg
    assert (ds.records[1].height, ds.records[1].width) == (40, 60)
    np.testing.assert_array_equal(ds.get_annotation(1)["boxes"], [[0, 0, 30, 40]])


def test_defaults_let_pycocotools_evaluate_the_ground_truth(tmp_path):
    """Before the defaults, COCOeval raised KeyError: 'iscrowd' at the end of a whole inference run."""
    images, path = _write(tmp_path, _kwcoco_like())
    gt = COCODataset(images=images, annotations=path).coco
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes([{"image_id": 1, "category_id": 5, "bbox": [10, 5, 20, 10], "score": 0.9},
                         {"image_id": 2, "category_id": 5, "bbox": [0, 0, 30, 40], "score": 0.8}])
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["annotations"][0].pop("bbox"), r"annotation 0 has no valid 'bbox'"),
        (lambda d: d["annotations"][1].update(bbox=[1, 2, 3]), r"annotation 1 has no valid 'bbox'"),
        (lambda d: d["images"][0].update(id="a"), r"image 0 id = 'a' is not an integer"),
        (lambda d: d["annotations"][0].update(image_id=1.5), r"annotation 0 image_id = 1.5 is not an integer"),
        (lambda d: d["images"][1].update(id=1), r"image id 1 appears twice"),
        (lambda d: d.pop("categories"), r"no 'categories' list"),
        (lambda d: d["annotations"][0].pop("category_id"), r"annotation 0 needs an 'image_id' and a 'category_id'"),
    ],
)
def test_what_cannot_be_defaulted_is_a_clear_error_naming_the_file(tmp_path, change, message):
    data = _kwcoco_like()
    change(data)
    images, path = _write(tmp_path, data)
    with pytest.raises(ValueError, match=message) as info:
        COCODataset(images=images, annotations=path)
    assert str(info.value).startswith(path)


def test_image_without_size_and_without_image_folder_is_an_error(tmp_path):
    _, path = _write(tmp_path, _kwcoco_like())
    with pytest.raises(ValueError, match=r"image 2 has no width/height and no image folder"):
        load_coco(path)


def test_invalid_json_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=rf"{path}: not a valid JSON file"):
        load_coco(str(path))


def test_annotations_of_unknown_images_or_categories_are_dropped_with_a_warning(tmp_path, caplog):
    data = _kwcoco_like()
    data["annotations"] += [{"image_id": 9, "category_id": 5, "bbox": [0, 0, 5, 5]} for _ in range(2)]
    data["annotations"] += [{"image_id": k, "category_id": 5, "bbox": [0, 0, 5, 5]} for k in range(10, 17)]
    data["annotations"] += [{"image_id": 1, "category_id": 77, "bbox": [0, 0, 5, 5]}]
    images, path = _write(tmp_path, data)
    with caplog.at_level(logging.WARNING, logger="ssd.data"):
        ds = COCODataset(images=images, annotations=path)
    assert len(ds.coco.getAnnIds()) == 2
    messages = [r.getMessage() for r in caplog.records]
    assert f"{path}: 9 annotations refer to 8 image ids that do not exist (9, 10, 11, 12, 13, ...); dropped" in messages
    assert f"{path}: 1 annotations refer to 1 category ids that do not exist (77); dropped" in messages


@pytest.mark.parametrize("escape", ["../outside/x.jpg", "sub/../../outside/x.jpg", "ABSOLUTE"])
def test_a_file_name_outside_the_image_folder_is_refused_unless_allowed(tmp_path, escape):
    # issue 20: '../../outside/x.jpg' or an absolute path was read silently (and shown in grids)
    outside = tmp_path / "set" / "outside" / "x.jpg"  # images are in tmp_path / "set" / "images"
    write_jpeg(str(outside), 40, 60)
    file_name = str(outside) if escape == "ABSOLUTE" else escape
    data = _kwcoco_like()
    data["images"][1] = {"id": 2, "file_name": file_name, "width": 60, "height": 40}
    data["images"][0]["file_name"] = "a.jpg"
    images, path = _write(tmp_path / "set", {**data, "images": [data["images"][0]]})
    os.makedirs(os.path.join(images, "sub"))
    with open(path, "w") as f:
        json.dump(data, f)
    with pytest.raises(ValueError) as refused:
        COCODataset(images=images, annotations=path)
    assert str(refused.value) == (
        f"{path} (image 2): file_name {file_name!r} lies outside the image folder {images}; "
        "move the image into it, or set DATASETS.ALLOW_OUTSIDE_ROOT True to read it anyway")
    dataset = COCODataset(images=images, annotations=path, allow_outside_root=True)
    assert os.path.samefile(dataset.get_img_info(1)["file_name"], outside)
    # a name that only looks like it climbs stays inside
    write_jpeg(os.path.join(images, "..b.jpg"), 40, 60)
    data["images"][1]["file_name"] = "..b.jpg"
    with open(path, "w") as f:
        json.dump(data, f)
    assert len(COCODataset(images=images, annotations=path)) == 2


def test_allow_outside_root_reaches_the_dataset_from_the_config(tmp_path):
    from ssd.config import get_cfg
    from ssd.data import build_dataset

    outside = tmp_path / "outside" / "x.jpg"
    write_jpeg(str(outside), 40, 60)
    data = _kwcoco_like()
    data["images"] = [{"id": 1, "file_name": "../outside/x.jpg", "width": 60, "height": 40}]
    data["annotations"] = data["annotations"][:1]
    (tmp_path / "images").mkdir()
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    cfg = get_cfg()
    cfg.DATASETS.CATALOG.mine = type(cfg)({"FORMAT": "coco", "IMAGES": str(tmp_path / "images"),
                                           "ANNOTATIONS": str(path)})
    with pytest.raises(ValueError, match="DATASETS.ALLOW_OUTSIDE_ROOT"):
        build_dataset(cfg, "mine", is_train=False)
    cfg.DATASETS.ALLOW_OUTSIDE_ROOT = True
    assert len(build_dataset(cfg, "mine", is_train=False)) == 1
