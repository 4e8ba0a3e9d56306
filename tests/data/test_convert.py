"""tools/data.py convert: every direction round-trips to the same records (within each format's precision)."""

from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import pytest
from data_fixtures import voc_object, write_split, write_voc_image

from ssd.data.datasets import COCODataset, VOCDataset, YOLODataset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _tool():
    spec = importlib.util.spec_from_file_location("tool_data", os.path.join(ROOT, "tools", "data.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


CLASSES = ["cat", "dog"]


@pytest.fixture
def voc(tmp_path) -> str:
    """Image 'a' (80 x 60): a dog and a difficult cat; 'b': one cat; 'c': no object."""
    root = str(tmp_path / "voc")
    write_voc_image(root, "a", [voc_object("dog", (1, 2, 10, 20)), voc_object("cat", (5, 5, 50, 40), difficult=1)])
    write_voc_image(root, "b", [voc_object("cat", (11, 21, 80, 60))])
    write_voc_image(root, "c", [])
    write_split(root, "trainval", ["a", "b", "c"])
    with open(os.path.join(root, "classes.txt"), "w") as f:
        f.write("cat\ndog\n")
    return root


def _records(ds):
    return [(os.path.basename(r.path), r.height, r.width, r.boxes.tolist(), r.labels.tolist(), r.difficult.tolist())
            for r in ds.records]


def test_voc_to_coco_to_voc_is_exact(voc, tmp_path):
    main = _tool()
    classes = os.path.join(voc, "classes.txt")
    assert main(["convert", "--from", "voc", "--root", voc, "--split", "trainval", "--classes", classes,
                 "--to", "coco", "--out", str(tmp_path / "coco")]) == 0
    ann = tmp_path / "coco" / "annotations" / "instances_trainval.json"
    data = json.loads(ann.read_text())
    assert [c["name"] for c in data["categories"]] == CLASSES
    # VOC dog (1, 2, 10, 20) = continuous [0, 1, 10, 20] -> COCO xywh [0, 1, 10, 19]; difficult -> iscrowd
    assert data["annotations"][0]["bbox"] == [0.0, 1.0, 10.0, 19.0] and data["annotations"][1]["iscrowd"] == 1
    assert main(["convert", "--from", "coco", "--images", str(tmp_path / "coco" / "trainval"),
                 "--annotations", str(ann), "--to", "voc", "--out", str(tmp_path / "back")]) == 0
    original = VOCDataset(root=voc, split="trainval", class_names=CLASSES)
    back = VOCDataset(root=str(tmp_path / "back"), split="trainval", class_names=CLASSES)
    assert _records(back) == _records(original)
    assert [back.get_img_info(i)["image_id"] for i in range(3)] == ["a", "b", "c"]


def test_coco_to_voc_to_coco_keeps_whole_pixel_boxes_and_crowds(coco_files, tmp_path):
    images, annotations = coco_files
    main = _tool()
    assert main(["convert", "--from", "coco", "--images", images, "--annotations", annotations,
                 "--to", "voc", "--out", str(tmp_path / "voc")]) == 0
    assert main(["convert", "--from", "voc", "--root", str(tmp_path / "voc"), "--split", "trainval",
                 "--classes", str(tmp_path / "voc" / "classes.txt"), "--to", "coco", "--out",
                 str(tmp_path / "coco")]) == 0
    original = COCODataset(images=images, annotations=annotations)
    back = COCODataset(images=str(tmp_path / "coco" / "trainval"),
                       annotations=str(tmp_path / "coco" / "annotations" / "instances_trainval.json"))
    assert back.class_names == original.class_names == ["car", "train", "kite"]
    ours, theirs = _records(back), _records(original)
    # VOC holds whole pixels: the train box (0.5, 1.5, 30.5, 41.5) of image 1 is rounded half to even.
    assert ours[0][3][1] == [0.0, 2.0, 30.0, 42.0] and theirs[0][3][1] == [0.5, 1.5, 30.5, 41.5]
    ours[0][3][1] = theirs[0][3][1] = None
    assert ours == theirs  # the rest, crowd flag (-> VOC difficult -> iscrowd) included, is unchanged


def test_coco_to_coco_keeps_the_category_ids(coco_files, tmp_path):
    images, annotations = coco_files
    assert _tool()(["convert", "--from", "coco", "--images", images, "--annotations", annotations,
                    "--to", "coco", "--out", str(tmp_path / "c")]) == 0
    data = json.loads((tmp_path / "c" / "annotations" / "instances_train.json").read_text())
    assert sorted(c["id"] for c in data["categories"]) == [3, 7, 11]
    assert [a["bbox"] for a in data["annotations"] if a["image_id"] == 5] == [[60.0, 0.0, 40.0, 50.0]]


def test_voc_to_yolo_to_coco_within_yolo_precision(voc, tmp_path):
    main = _tool()
    classes = os.path.join(voc, "classes.txt")
    assert main(["convert", "--from", "voc", "--root", voc, "--split", "trainval", "--classes", classes,
                 "--to", "yolo", "--out", str(tmp_path / "y"), "--out-split", "train"]) == 0
    label = (tmp_path / "y" / "labels" / "train" / "a.txt").read_text()
    assert label == "1 0.062500 0.175000 0.125000 0.316667\n"  # the difficult cat is left out
    yolo = YOLODataset(images=str(tmp_path / "y" / "images" / "train"))  # names from the written data.yaml
    assert yolo.class_names == CLASSES
    original = VOCDataset(root=voc, split="trainval", class_names=CLASSES)
    for k in range(3):
        kept = ~original.records[k].difficult
        np.testing.assert_allclose(yolo.records[k].boxes, original.records[k].boxes[kept], atol=1e-4)
        np.testing.assert_array_equal(yolo.records[k].labels, original.records[k].labels[kept])
    assert main(["convert", "--from", "yolo", "--images", str(tmp_path / "y" / "images" / "train"),
                 "--to", "coco", "--out", str(tmp_path / "c")]) == 0
    data = json.loads((tmp_path / "c" / "annotations" / "instances_train.json").read_text())
    assert [c["id"] for c in data["categories"]] == [1, 2]  # category id = YOLO class + 1 = label
    np.testing.assert_allclose(data["annotations"][0]["bbox"], [0, 1, 10, 19], atol=1e-4)


def test_missing_input_option_and_existing_different_classes_are_one_line_errors(voc, tmp_path, capsys):
    # issue 20: exit 1 as in the other tools and the README (it was 2)
    main = _tool()
    assert main(["convert", "--from", "coco", "--images", voc, "--to", "voc", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --from coco needs --annotations") and err.count("\n") == 1
    out = tmp_path / "v"
    out.mkdir()
    (out / "classes.txt").write_text("other\n")
    assert main(["convert", "--from", "voc", "--root", voc, "--split", "trainval", "--classes",
                 os.path.join(voc, "classes.txt"), "--to", "voc", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "lists classes ['other'], not ['cat', 'dog']" in err and err.count("\n") == 1


def test_a_voc_set_without_class_options_uses_its_classes_txt(tmp_path, capsys):
    # issue 20: converting the project's own synthetic_voc set failed ("class 'triangle' not in the
    # class list ['aeroplane', ...]"): its classes.txt was not used, and the message named no way out
    from ssd.data.synthetic import write_voc

    write_voc(str(tmp_path / "synthetic_voc"), train=2, test=1, seed=0)
    names = (tmp_path / "synthetic_voc" / "classes.txt").read_text().split()
    main = _tool()
    assert main(["convert", "--from", "voc", "--root", str(tmp_path / "synthetic_voc"), "--split", "trainval",
                 "--to", "coco", "--out", str(tmp_path / "c")]) == 0
    data = json.loads((tmp_path / "c" / "annotations" / "instances_trainval.json").read_text())
    assert [c["name"] for c in data["categories"]] == names
    os.remove(tmp_path / "synthetic_voc" / "classes.txt")
    assert main(["convert", "--from", "voc", "--root", str(tmp_path / "synthetic_voc"), "--split", "trainval",
                 "--to", "coco", "--out", str(tmp_path / "c2")]) == 1
    err = capsys.readouterr().err
    assert "which is not in the class list ['aeroplane'" in err
    assert "give the dataset's classes (DATASETS.CLASSES, --classes FILE, or a classes.txt in its ROOT)" in err


def test_images_of_one_name_in_two_folders_convert_to_coco_and_are_refused_up_front_by_flat_layouts(tmp_path, capsys):
    # issue 20: "already exists ... choose an empty output folder" into an empty folder, and a partial output
    from data_fixtures import write_jpeg

    images = tmp_path / "images"
    for sub in ("a", "b"):
        write_jpeg(str(images / sub / "x.jpg"), 40, 60)
    data = {"images": [{"id": 1, "file_name": "a/x.jpg", "width": 60, "height": 40},
                       {"id": 2, "file_name": "b/x.jpg", "width": 60, "height": 40}],
            "annotations": [{"id": 1, "image_id": 2, "category_id": 1, "bbox": [1, 2, 10, 20]}],
            "categories": [{"id": 1, "name": "thing"}]}
    (tmp_path / "instances.json").write_text(json.dumps(data))
    main = _tool()
    source = ["convert", "--from", "coco", "--images", str(images), "--annotations", str(tmp_path / "instances.json")]
    assert main([*source, "--to", "coco", "--out", str(tmp_path / "c")]) == 0
    written = json.loads((tmp_path / "c" / "annotations" / "instances_train.json").read_text())
    assert [i["file_name"] for i in written["images"]] == ["a/x.jpg", "b/x.jpg"]
    assert (tmp_path / "c" / "train" / "a" / "x.jpg").is_file() and (tmp_path / "c" / "train" / "b" / "x.jpg").is_file()
    for target in ("voc", "yolo"):
        out = tmp_path / target
        assert main([*source, "--to", target, "--out", str(out)]) == 1
        err = capsys.readouterr().err
        assert f"{images / 'a' / 'x.jpg'} and {images / 'b' / 'x.jpg'} share the name 'x'" in err
        assert not out.exists() or not any(out.rglob("*.*"))  # nothing half-written
