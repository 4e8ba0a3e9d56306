"""Key mapping rules and their bookkeeping, on hand-picked keys and on the full key lists of the
released torchvision checkpoints (models built on the meta device: shapes only, no memory)."""

from __future__ import annotations

import os

import pytest
import torch

from ssd.config import load_config
from ssd.convert import (
    class_layout,
    head_num_classes,
    remap_state_dict,
    source_rename,
    strip_prefix,
    torchvision_coco_layout,
)
from ssd.convert.from_lufficc import lufficc_rename, mobilenet_v2_key, vgg_key
from ssd.convert.from_torchvision import c4_position, detect_architecture, ssd300_vgg16_key, ssdlite320_key
from ssd.modeling import build_model
from ssd.modeling.anchors import boxes_per_location

from .conftest import ROOT, reference_shapes, synthetic_state_dict


def test_remap_reports_every_key_it_cannot_place():
    source = {"a": torch.zeros(2), "b": torch.zeros(3), "c": torch.zeros(4), "d": torch.zeros(5)}
    rename = {"a": "x", "b": "y", "c": "nowhere"}.get
    result = remap_state_dict(source, rename=rename, target_shapes={"x": (2,), "y": (4,), "z": (1,)})
    assert list(result.state_dict) == ["x"]
    assert result.unplaced == {
        "b": "mapped to y: shape (3,) != model's (4,)",
        "c": "mapped to nowhere, which the model does not have",
        "d": "no rule maps this key",
    }
    assert result.missing == ["y", "z"]
    assert not result.complete
    assert "3 source keys could not be placed" in result.describe()


def test_remap_refuses_two_sources_for_one_target():
    with pytest.raises(ValueError, match="a and b both map to x"):
        remap_state_dict({"a": torch.zeros(1), "b": torch.zeros(1)}, rename=lambda k: "x", target_shapes={"x": (1,)})


def test_strip_prefix_only_when_every_key_has_it():
    assert list(strip_prefix({"module.a": 1, "module.b": 2})) == ["a", "b"]
    assert list(strip_prefix({"module.a": 1, "b": 2})) == ["module.a", "b"]


@pytest.mark.parametrize("key, expected", [
    ("backbone.scale_weight", "backbone.l2_norm.weight"),
    ("backbone.features.21.bias", "backbone.features.21.bias"),
    ("backbone.extra.0.1.weight", "backbone.features.24.weight"),  # conv5_1
    ("backbone.extra.0.5.bias", "backbone.features.28.bias"),  # conv5_3
    ("backbone.extra.0.7.1.weight", "backbone.fc6.weight"),
    ("backbone.extra.0.7.3.bias", "backbone.fc7.bias"),
    ("backbone.extra.1.2.weight", "neck.blocks.0.2.weight"),
    ("backbone.extra.4.0.bias", "neck.blocks.3.0.bias"),
    ("head.classification_head.module_list.5.weight", "box_head.predictor.cls_heads.5.weight"),
    ("head.regression_head.module_list.0.bias", "box_head.predictor.reg_heads.0.bias"),
    ("anchor_generator.something", None),
])
def test_torchvision_ssd300_rules(key, expected):
    assert ssd300_vgg16_key(key) == expected


@pytest.mark.parametrize("key, expected", [
    ("backbone.features.0.0.1.running_var", "backbone.features.0.1.running_var"),
    ("backbone.features.0.12.block.2.fc1.weight", "backbone.features.12.block.2.fc1.weight"),
    ("backbone.features.0.13.0.weight", "backbone.features.13.block.0.0.weight"),  # C4 expansion
    ("backbone.features.1.0.1.0.weight", "backbone.features.13.block.1.0.weight"),  # C4 depthwise
    ("backbone.features.1.0.3.1.bias", "backbone.features.13.block.3.1.bias"),
    ("backbone.features.1.1.block.0.0.weight", "backbone.features.14.block.0.0.weight"),
    ("backbone.features.1.3.1.weight", "backbone.features.16.1.weight"),  # last 1x1 conv
    ("backbone.extra.3.2.1.num_batches_tracked", "neck.blocks.3.2.1.num_batches_tracked"),
    ("head.classification_head.module_list.0.0.1.running_mean", "box_head.predictor.cls_heads.0.0.1.running_mean"),
    ("backbone.features.2.0.weight", None),
])
def test_torchvision_ssdlite_rules(key, expected):
    assert ssdlite320_key(key, c4=13) == expected


@pytest.mark.parametrize("key, expected", [
    ("backbone.vgg.0.weight", "backbone.features.0.weight"),
    ("backbone.vgg.28.bias", "backbone.features.28.bias"),
    ("backbone.vgg.31.weight", "backbone.fc6.weight"),
    ("backbone.vgg.33.bias", "backbone.fc7.bias"),
    ("backbone.vgg.30.weight", None),  # pool5 has no parameters
    ("backbone.l2_norm.weight", "backbone.l2_norm.weight"),
    ("backbone.extras.0.weight", "neck.blocks.0.0.weight"),
    ("backbone.extras.7.bias", "neck.blocks.3.2.bias"),
    ("backbone.extras.9.weight", "neck.blocks.4.2.weight"),  # SSD512's 4x4 conv
    ("box_head.predictor.cls_headers.6.weight", "box_head.predictor.cls_heads.6.weight"),
    ("box_head.predictor.reg_headers.2.bias", "box_head.predictor.reg_heads.2.bias"),
])
def test_lufficc_vgg_rules(key, expected):
    assert vgg_key(key) == expected


@pytest.mark.parametrize("key, expected", [
    ("backbone.features.13.conv.2.weight", "backbone.features.13.conv.2.weight"),
    ("backbone.features.18.1.running_mean", "backbone.features.18.1.running_mean"),
    ("backbone.extras.3.conv.1.0.weight", "neck.blocks.3.conv.1.0.weight"),
    ("box_head.predictor.cls_headers.0.conv.0.bias", "box_head.predictor.cls_heads.0.0.bias"),  # depthwise
    ("box_head.predictor.reg_headers.4.conv.3.weight", "box_head.predictor.reg_heads.4.3.weight"),  # 1x1
    ("box_head.predictor.cls_headers.5.weight", "box_head.predictor.cls_heads.5.weight"),  # last: plain
    ("backbone.vgg.0.weight", None),
])
def test_lufficc_mobilenet_v2_rules(key, expected):
    assert mobilenet_v2_key(key) == expected


def test_lufficc_rule_follows_the_backbone():
    assert lufficc_rename(reference_shapes("lufficc_vgg_ssd512_voc0712")) is vgg_key
    assert lufficc_rename(reference_shapes("lufficc_mobilenet_v2_ssd320_voc0712")) is mobilenet_v2_key
    with pytest.raises(ValueError, match="not a lufficc VGG or MobileNetV2"):
        lufficc_rename(reference_shapes("torchvision_ssd300_vgg16"))


def test_detects_torchvision_architecture_and_c4():
    lite = reference_shapes("torchvision_ssdlite320_mobilenet_v3_large")
    assert detect_architecture(reference_shapes("torchvision_ssd300_vgg16")) == "ssd300_vgg16"
    assert detect_architecture(lite) == "ssdlite320_mobilenet_v3_large"
    assert c4_position(lite) == 13
    with pytest.raises(ValueError, match="backbone.scale_weight"):
        detect_architecture(reference_shapes("lufficc_vgg_ssd300_voc0712"))


@pytest.mark.parametrize("fixture, config", [
    ("torchvision_ssd300_vgg16", "ssd300_vgg16_coco_torchvision"),
    ("torchvision_ssdlite320_mobilenet_v3_large", "ssdlite320_mnv3_coco_torchvision"),
])
def test_released_torchvision_checkpoints_place_every_key(fixture, config):
    state = synthetic_state_dict(fixture)
    cfg = load_config(os.path.join(ROOT, "configs", "converted", f"{config}.yaml"))
    rename = source_rename("torchvision", list(state))
    num_classes = head_num_classes(state, rename=rename,
                                   boxes_at_level0=boxes_per_location(cfg.MODEL.PRIORS.ASPECT_RATIOS)[0])
    assert num_classes == 91 == cfg.MODEL.NUM_CLASSES
    with torch.device("meta"):
        model = build_model(cfg, num_classes=class_layout("torchvision", num_classes).num_classes)
    target = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    result = remap_state_dict(state, rename=rename, target_shapes=target)
    assert result.unplaced == {} and result.missing == []
    assert len(result.state_dict) == len(state) == len(model.state_dict())
    model.load_state_dict(result.state_dict, strict=True, assign=True)


def test_torchvision_class_layout_keeps_the_91_outputs():
    layout = torchvision_coco_layout()
    assert layout.num_classes == 91 and len(layout.class_names) == 90
    assert layout.class_names[:3] == ["person", "bicycle", "car"]
    assert [i + 1 for i, n in enumerate(layout.class_names) if n == "N/A"] == [12, 26, 29, 30, 45, 66, 68, 69, 71, 83]
    assert layout.class_names[89] == "toothbrush"
    assert layout.label_to_category_id == {i: i for i in range(1, 91)}
    with pytest.raises(ValueError, match="81 classes is not its COCO layout"):
        class_layout("torchvision", 81)
