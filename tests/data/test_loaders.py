"""Builders: catalog resolution, custom datasets by config, class counts, loaders end to end."""

from __future__ import annotations

import os

import pytest
import torch
from data_fixtures import voc_object, write_split, write_voc_image
from yacs.config import CfgNode as CN

from ssd.config import get_cfg, load_config
from ssd.data import (
    ConcatDetectionDataset,
    build_dataset,
    build_test_loader,
    build_train_loader,
    build_transform,
    class_names_for,
    resolve_dataset,
    resolve_num_classes,
)

SHAPES = ["circle", "square", "triangle", "star"]


def test_resolve_num_classes():
    assert resolve_num_classes(0, SHAPES) == 5
    assert resolve_num_classes(5, SHAPES) == 5
    with pytest.raises(
        ValueError, match=r"MODEL.NUM_CLASSES = 21 but the dataset has 4 classes \(\+ background = 5\)"
    ):
        resolve_num_classes(21, SHAPES)


def test_builtin_names_resolve_under_root_and_env(monkeypatch, tmp_path):
    monkeypatch.delenv("VOC_ROOT", raising=False)
    monkeypatch.delenv("COCO_ROOT", raising=False)
    spec = resolve_dataset("voc_2012_trainval", catalog={}, data_root="datasets")
    assert spec.format == "voc" and spec.paths == {
        "ROOT": os.path.join("datasets", "VOC2012"),
        "SPLIT": "trainval",
    }
    monkeypatch.setenv("VOC_ROOT", "/data/voc")
    monkeypatch.setenv("COCO_ROOT", "/data/coco")
    assert resolve_dataset("voc_2007_test", catalog={}, data_root="x").paths["ROOT"] == "/data/voc/VOC2007"
    spec = resolve_dataset("coco_2014_minival", catalog={}, data_root="x")
    assert spec.paths == {
        "IMAGES": "/data/coco/val2014",
        "ANNOTATIONS": "/data/coco/annotations/instances_minival2014.json",
    }
    # the synthetic names do not follow VOC_ROOT
    assert resolve_dataset("synthetic_voc_test", catalog={}, data_root="r").paths["ROOT"] == "r/synthetic_voc"


def test_unknown_name_and_incomplete_entries():
    with pytest.raises(KeyError, match="unknown dataset 'nope'.*'coco_2017_val'"):
        resolve_dataset("nope", catalog={}, data_root="d")
    with pytest.raises(ValueError, match=r"missing \['SPLIT'\]"):
        resolve_dataset("mine", catalog={"mine": {"FORMAT": "voc", "ROOT": "/x"}}, data_root="d")
    with pytest.raises(ValueError, match=r"FORMAT = 'kitti'; expected one of \['coco', 'voc', 'yolo'\]"):
        resolve_dataset("mine", catalog={"mine": {"FORMAT": "kitti"}}, data_root="d")


def test_custom_voc_dataset_from_config_only(tmp_path):
    root = str(tmp_path / "shapes" / "VOC2007")
    write_voc_image(root, "p", [voc_object("star", (2, 2, 20, 20))])
    write_voc_image(root, "q", [voc_object("circle", (1, 1, 9, 9))])
    write_split(root, "trainval", ["p", "q"])
    write_split(root, "test", ["q"])
    (tmp_path / "shapes" / "classes.txt").write_text("circle\nsquare\nstar\n")
    cfg = get_cfg()
    classes = str(tmp_path / "shapes" / "classes.txt")
    cfg.DATASETS.CATALOG = CN(
        {
            "shapes_train": {"FORMAT": "voc", "ROOT": root, "SPLIT": "trainval", "CLASSES": classes},
            "shapes_test": {"FORMAT": "voc", "ROOT": root, "SPLIT": "test", "CLASSES": classes},
        }
    )
    cfg.DATASETS.TRAIN = ("shapes_train",)
    assert class_names_for(cfg) == ["circle", "square", "star"]
    ds = build_dataset(cfg, "shapes_test", is_train=False)
    assert len(ds) == 1 and ds.get_annotation(0)["labels"].tolist() == [1]
    # a second dataset with another class list cannot be concatenated
    cfg.DATASETS.CATALOG["other"] = CN(
        {"FORMAT": "voc", "ROOT": root, "SPLIT": "test", "CLASSES": ["circle"]}
    )
    cfg.DATASETS.TRAIN = ("shapes_train", "other")
    with pytest.raises(ValueError, match=r"'shapes_train' and 'other' have different class lists"):
        class_names_for(cfg)


def test_class_names_of_coco_come_from_the_json(synthetic_cfg):
    synthetic_cfg.DATASETS.TRAIN = ("synthetic_coco_train",)
    assert class_names_for(synthetic_cfg) == SHAPES


def test_train_loader_batches(synthetic_cfg):
    synthetic_cfg.DATASETS.TRAIN = ("synthetic_voc_trainval", "synthetic_voc_trainval")
    loader = build_train_loader(synthetic_cfg)
    assert isinstance(loader.dataset, ConcatDetectionDataset) and len(loader.dataset) == 24
    assert loader.dataset.class_names == SHAPES
    batches = list(loader)
    assert len(batches) == len(loader) == 7
    images, targets, infos = batches[0]
    assert images.shape == (4, 3, 64, 64) and images.dtype == torch.uint8
    assert len(targets) == len(infos) == 4
    for t, info in zip(targets, infos, strict=True):
        assert t["boxes"].dtype == torch.float32 and t["labels"].dtype == torch.int64
        assert t["boxes"].shape == (len(t["labels"]), 4)
        assert ((t["boxes"] >= 0) & (t["boxes"] <= 64)).all()
        assert ((t["labels"] >= 1) & (t["labels"] <= 4)).all()
        assert set(info) == {"index", "image_id", "file_name", "height", "width"}
        assert 0 <= info["index"] < 24 and 120 <= info["height"] <= 160


def test_train_loader_resumes_exactly(synthetic_cfg):
    full = list(build_train_loader(synthetic_cfg))
    resumed = list(build_train_loader(synthetic_cfg, start_iter=4))
    assert len(resumed) == 3
    for (ia, ta, fa), (ib, tb, fb) in zip(full[4:], resumed, strict=True):
        assert torch.equal(ia, ib)
        assert [f["index"] for f in fa] == [f["index"] for f in fb]
        for a, b in zip(ta, tb, strict=True):
            assert torch.equal(a["boxes"], b["boxes"]) and torch.equal(a["labels"], b["labels"])


def test_workers_do_not_change_the_batches(synthetic_cfg):
    synthetic_cfg.SOLVER.MAX_ITER = 3
    single = list(build_train_loader(synthetic_cfg))
    synthetic_cfg.DATALOADER.NUM_WORKERS = 2
    multi = list(build_train_loader(synthetic_cfg))
    for (ia, _, fa), (ib, _, fb) in zip(single, multi, strict=True):
        assert torch.equal(ia, ib) and fa == fb


def test_train_loader_batch_split_over_ranks(synthetic_cfg):
    loader = build_train_loader(synthetic_cfg, rank=1, world_size=2)
    images, _, _ = next(iter(loader))
    assert images.shape[0] == 2
    with pytest.raises(ValueError, match=r"SOLVER.BATCH_SIZE = 4 .* world size 3"):
        build_train_loader(synthetic_cfg, world_size=3)


@pytest.mark.parametrize("aug,dtype", [("lufficc", torch.float32), ("ssdlite", torch.uint8)])
def test_variants_by_config(synthetic_cfg, aug, dtype):
    synthetic_cfg.INPUT.AUGMENTATION = aug
    images, _, _ = next(iter(build_train_loader(synthetic_cfg)))
    assert images.shape == (4, 3, 64, 64) and images.dtype == dtype


def test_test_loader_shards_and_resizes(synthetic_cfg):
    seen = []
    for rank in range(2):
        for images, _, infos in build_test_loader(
            synthetic_cfg, "synthetic_voc_test", rank=rank, world_size=2
        ):
            assert images.shape[1:] == (3, 64, 64) and images.dtype == torch.uint8
            seen += [info["index"] for info in infos]
    assert sorted(seen) == list(range(5)) and len(seen) == 5
    coco = build_test_loader(synthetic_cfg, "synthetic_coco_test").dataset
    assert coco.label_to_category_id == {1: 10, 2: 20, 3: 30, 4: 40}
    assert coco.coco.getImgIds() == [1, 2, 3, 4, 5]


def test_expand_fill_is_the_mean_in_pixels_whatever_its_range():
    cfg = get_cfg()
    cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_RANGE = [0.5, 0.25, 1.0], 1.0
    assert build_transform(cfg, is_train=True).fill.tolist() == [128, 64, 255]
    cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_RANGE = [123.0, 117.0, 104.0], 255.0
    assert build_transform(cfg, is_train=True).fill.tolist() == [123, 117, 104]


def test_data_never_imports_the_model_side():
    import subprocess
    import sys

    code = "import sys, ssd.data; print(any(m.startswith('ssd.modeling') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_custom_datasets_declared_in_yaml(tmp_path, synthetic_root):
    voc = os.path.join(synthetic_root, "synthetic_voc")
    coco = os.path.join(synthetic_root, "synthetic_coco")
    path = tmp_path / "custom.yaml"
    path.write_text(
        "MODEL:\n  NUM_CLASSES: 0\nDATASETS:\n"
        '  TRAIN: ("shapes_train",)\n  TEST: ("mine_val",)\n  CATALOG:\n'
        f"    shapes_train: {{FORMAT: voc, ROOT: {voc}, SPLIT: trainval, CLASSES: {voc}/classes.txt}}\n"
        f"    mine_val: {{FORMAT: coco, IMAGES: {coco}/test,\n"
        f"               ANNOTATIONS: {coco}/annotations/instances_test.json}}\n"
    )
    cfg = load_config(str(path))
    names = class_names_for(cfg)
    assert names == SHAPES and resolve_num_classes(cfg.MODEL.NUM_CLASSES, names) == 5
    assert class_names_for(cfg, train=False) == SHAPES
    assert len(build_dataset(cfg, "shapes_train", is_train=True)) == 12
    assert build_dataset(cfg, "mine_val", is_train=False).category_id_to_label == {10: 1, 20: 2, 30: 3, 40: 4}


def test_concatenation_exposes_the_shared_format(synthetic_cfg):
    from ssd.data import build_train_dataset

    synthetic_cfg.DATASETS.TRAIN = ("synthetic_voc_trainval", "synthetic_voc_test")
    both = build_train_dataset(synthetic_cfg)
    assert both.format.name == "voc" and both.format.evaluator_kind == "voc"
    assert both.label_to_category_id is None
    synthetic_cfg.DATASETS.TRAIN = ("synthetic_voc_trainval", "synthetic_coco_train")
    synthetic_cfg.DATASETS.CLASSES = ["circle", "square", "triangle", "star"]
    mixed = build_train_dataset(synthetic_cfg)
    with pytest.raises(ValueError, match=r"different formats \['coco', 'voc'\]"):
        _ = mixed.format
