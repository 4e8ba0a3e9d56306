"""lufficc/SSD checkpoints: every key of the released VGG and MobileNetV2 models is placed and loads
strictly; the default boxes and class order mean what they mean in lufficc; and the converted SSD300
and MobileNetV2 SSDLite320 compute what lufficc's networks compute (checked against restatements of
its architectures: functional for VGG, torchvision's blocks under lufficc's names for MobileNetV2)."""

from __future__ import annotations

import math
import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import mobilenet_v2
from torchvision.models.mobilenetv2 import InvertedResidual

from ssd.checkpoint.io import load_checkpoint, model_state
from ssd.config import load_config
from ssd.convert import (
    VOC_CLASS_NAMES,
    class_layout,
    convert_weights,
    head_num_classes,
    remap_state_dict,
    source_rename,
    strip_prefix,
)
from ssd.modeling import build_model, build_priors
from ssd.modeling.anchors import boxes_per_location
from ssd.utils.checkpoint import atomic_save

from .conftest import ROOT, synthetic_state_dict

CASES = [  # fixture, config, classes, priors, (a model key, the source key that must fill it)
    ("lufficc_vgg_ssd300_voc0712", "ssd300_vgg16_voc0712_lufficc", 21, 8732,
     ("backbone.fc7.weight", "backbone.vgg.33.weight")),
    ("lufficc_vgg_ssd300_coco_trainval35k", "ssd300_vgg16_coco_lufficc", 81, 8732,
     ("neck.blocks.1.2.weight", "backbone.extras.3.weight")),
    ("lufficc_vgg_ssd512_voc0712", "ssd512_vgg16_voc0712_lufficc", 21, 24564,
     ("neck.blocks.4.2.weight", "backbone.extras.9.weight")),
    ("lufficc_vgg_ssd512_coco_trainval35k", "ssd512_vgg16_coco_lufficc", 81, 24564,
     ("box_head.predictor.cls_heads.6.bias", "box_head.predictor.cls_headers.6.bias")),
    ("lufficc_mobilenet_v2_ssd320_voc0712", "ssdlite320_mnv2_voc0712_lufficc", 21, 3234,
     ("box_head.predictor.cls_heads.0.1.running_var", "box_head.predictor.cls_headers.0.conv.1.running_var")),
]


def _cfg(name: str):
    return load_config(os.path.join(ROOT, "configs", "converted", f"{name}.yaml"))


@pytest.mark.parametrize("fixture, config, num_classes, num_priors, pair", CASES)
def test_released_lufficc_checkpoints_convert_completely_and_load_strictly(fixture, config, num_classes, num_priors,
                                                                          pair):
    state = strip_prefix({f"module.{k}": v for k, v in synthetic_state_dict(fixture).items()})  # saved from DDP
    cfg = _cfg(config)
    rename = source_rename("lufficc", list(state))
    boxes = boxes_per_location(cfg.MODEL.PRIORS.ASPECT_RATIOS)[0]
    found = head_num_classes(state, rename=rename, boxes_at_level0=boxes)
    assert found == num_classes == cfg.MODEL.NUM_CLASSES
    with torch.device("meta"):
        model = build_model(cfg, num_classes=class_layout("lufficc", found).num_classes)
    assert model.box_head.priors.shape[0] == num_priors
    target = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    result = remap_state_dict(state, rename=rename, target_shapes=target)
    assert result.unplaced == {} and result.missing == []
    model.load_state_dict(result.state_dict, strict=True, assign=True)
    target, source = pair
    assert torch.equal(model.state_dict()[target], state[source])


def _cxcywh(priors: torch.Tensor, size: int) -> torch.Tensor:
    xyxy = priors.double() / size
    return torch.cat([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], dim=1)


def test_ssd300_priors_follow_lufficc_prior_box():
    """lufficc's PriorBox: per cell [min size, sqrt(min * max), then (w sqrt r, h / sqrt r) and its
    transpose per ratio], cells row-major, normalised (cx, cy, w, h) clamped to [0, 1]."""
    cfg = _cfg("ssd300_vgg16_voc0712_lufficc")
    priors = _cxcywh(build_priors(cfg, [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]), 300)
    c, r2 = 4 / 300, math.sqrt(2)
    s0, s0p = 0.1, math.sqrt(30 * 60) / 300
    expected_first_cell = [[c, c, s0, s0], [c, c, s0p, s0p], [c, c, s0 * r2, s0 / r2], [c, c, s0 / r2, s0 * r2]]
    torch.testing.assert_close(priors[:4], torch.tensor(expected_first_cell, dtype=torch.float64), rtol=0, atol=1e-6)
    assert priors[0, 0] == pytest.approx(0.0133, abs=1e-4) and priors[1, 2] == pytest.approx(0.1414, abs=1e-4)
    # second cell of level 0: one step (8 px) to the right
    torch.testing.assert_close(priors[4, :2], torch.tensor([12 / 300, 4 / 300], dtype=torch.float64), rtol=0, atol=1e-6)
    # level 1 starts after 38 * 38 * 4 boxes, with 6 per cell (ratios 2 and 3)
    l1 = priors[38 * 38 * 4: 38 * 38 * 4 + 6]
    s1, r3 = 60 / 300, math.sqrt(3)
    s1p = math.sqrt(60 * 111) / 300
    expected_l1 = [[s1, s1], [s1p, s1p], [s1 * r2, s1 / r2], [s1 / r2, s1 * r2], [s1 * r3, s1 / r3], [s1 / r3, s1 * r3]]
    torch.testing.assert_close(l1[:, 2:], torch.tensor(expected_l1, dtype=torch.float64), rtol=0, atol=1e-6)
    # the 1x1 level: centre 0.5; the 2:1 box is 0.88 * sqrt 2 = 1.24 wide, clamped to 1 like lufficc
    last = priors[-4:]
    torch.testing.assert_close(last, torch.tensor(
        [[0.5, 0.5, 0.88, 0.88], [0.5, 0.5, math.sqrt(264 * 315) / 300, math.sqrt(264 * 315) / 300],
         [0.5, 0.5, 1.0, 0.88 / r2], [0.5, 0.5, 0.88 / r2, 1.0]], dtype=torch.float64), rtol=0, atol=1e-6)
    assert priors.shape == (8732, 4)


def test_ssd512_last_prior_uses_lufficc_max_size():
    cfg = _cfg("ssd512_vgg16_voc0712_lufficc")
    priors = _cxcywh(build_priors(cfg, [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]), 512)
    assert priors.shape == (24564, 4)
    assert float(priors[-3, 2]) == pytest.approx(math.sqrt(460.8 * 537.65) / 512, abs=1e-6)


def test_lufficc_class_order():
    voc = class_layout("lufficc", 21)
    assert voc.class_names == [
        "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
        "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
    ] == list(VOC_CLASS_NAMES)
    assert voc.label_to_category_id is None
    coco = class_layout("lufficc", 81)
    assert len(coco.class_names) == 80 and "N/A" not in coco.class_names
    ids = coco.label_to_category_id
    assert (ids[1], ids[11], ids[12], ids[80]) == (1, 11, 13, 90)
    assert (coco.class_names[0], coco.class_names[11], coco.class_names[79]) == ("person", "stop sign", "toothbrush")
    assert list(ids.values()) == sorted(ids.values())
    custom = class_layout("lufficc", 3, ["cat", "dog"])
    assert custom.class_names == ["cat", "dog"]
    with pytest.raises(ValueError, match="neither VOC"):
        class_layout("lufficc", 5)


# lufficc SSD300's extra layers: (stride, padding) of each conv, 1x1 and 3x3 alternating.
_EXTRAS_300 = [(1, 0), (2, 1), (1, 0), (2, 1), (1, 0), (1, 0), (1, 0), (1, 0)]
_VGG_CONVS = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]


def _lufficc_ssd300(state: dict, x: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """lufficc's VGG SSD300 forward (ssd/modeling/backbone/vgg.py and box_predictor.py there),
    restated with functional ops on its own state dict: ``x`` is the mean-subtracted image."""
    def conv(i, t, **kw):
        return F.conv2d(t, state[f"backbone.vgg.{i}.weight"], state[f"backbone.vgg.{i}.bias"], **kw)

    features = []
    for i in range(29):
        if i in _VGG_CONVS:
            x = F.relu(conv(i, x, padding=1))
        elif i in (4, 9, 23):
            x = F.max_pool2d(x, 2, 2)
        elif i == 16:
            x = F.max_pool2d(x, 2, 2, ceil_mode=True)
        if i == 21:
            norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10
            features.append(x / norm * state["backbone.l2_norm.weight"].view(1, -1, 1, 1))
    x = F.max_pool2d(x, 3, 1, 1)
    x = F.relu(conv(31, x, padding=6, dilation=6))
    x = F.relu(conv(33, x))
    features.append(x)
    for k, (stride, padding) in enumerate(_EXTRAS_300):
        w, b = state[f"backbone.extras.{k}.weight"], state[f"backbone.extras.{k}.bias"]
        x = F.relu(F.conv2d(x, w, b, stride=stride, padding=padding))
        if k % 2 == 1:
            features.append(x)
    cls, reg = [], []
    for level, f in enumerate(features):
        p = "box_head.predictor"
        c = F.conv2d(f, state[f"{p}.cls_headers.{level}.weight"], state[f"{p}.cls_headers.{level}.bias"], padding=1)
        r = F.conv2d(f, state[f"{p}.reg_headers.{level}.weight"], state[f"{p}.reg_headers.{level}.bias"], padding=1)
        cls.append(c.permute(0, 2, 3, 1).reshape(f.shape[0], -1))
        reg.append(r.permute(0, 2, 3, 1).reshape(f.shape[0], -1))
    return torch.cat(cls, 1).view(x.shape[0], -1, num_classes), torch.cat(reg, 1).view(x.shape[0], -1, 4)


def test_converted_ssd300_computes_lufficc_outputs(tmp_path):
    state = synthetic_state_dict("lufficc_vgg_ssd300_voc0712", seed=1)
    for key, value in state.items():  # He-scaled weights keep activations alive through 15 layers
        if value.dim() == 4:
            state[key] = value / 0.05 * math.sqrt(2.0 / value[0].numel())
    state["backbone.l2_norm.weight"] = torch.rand(512) * 20 + 10
    source = tmp_path / "vgg_ssd300_voc0712.pth"
    torch.save({"model": state, "iteration": 120000}, source)  # lufficc's CheckPointer layout

    model, checkpoint = convert_weights(source="lufficc", weights=str(source), cfg=_cfg("ssd300_vgg16_voc0712_lufficc"))
    assert checkpoint["class_names"] == list(VOC_CLASS_NAMES) and checkpoint["label_to_category_id"] is None
    atomic_save(checkpoint, str(tmp_path / "converted.pth"))
    with torch.no_grad():  # what is computed below comes from the file, not from the conversion
        for tensor in model.state_dict().values():
            tensor.zero_()
    model.load_state_dict(model_state(load_checkpoint(str(tmp_path / "converted.pth")), source="converted"))
    model.eval()

    images = torch.randint(0, 256, (1, 3, 300, 300), generator=torch.Generator().manual_seed(3), dtype=torch.uint8)
    mean = torch.tensor([123.0, 117.0, 104.0]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected_cls, expected_reg = _lufficc_ssd300(state, images.float() - mean, 21)
        cls, reg = model.box_head.predictor(model.features(images))
    assert cls.shape == (1, 8732, 21) and reg.shape == (1, 8732, 4)
    assert expected_cls.abs().amax() > 1.0  # the comparison below is not between zeros
    torch.testing.assert_close(cls, expected_cls, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(reg, expected_reg, rtol=1e-4, atol=1e-4)


def _lufficc_mnv2_ssdlite(num_classes: int) -> nn.Module:
    """lufficc's MobileNetV2 SSDLite320 (ssd/modeling/backbone/mobilenet.py and SSDLiteBoxPredictor
    there) rebuilt from torchvision's blocks, which lufficc's copy matches layer for layer, under
    lufficc's module names so that its state dict loads strictly."""
    def separable(channels: int, outputs: int) -> nn.Module:  # lufficc's SeparableConv2d
        conv = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, groups=channels), nn.BatchNorm2d(channels),
                             nn.ReLU6(), nn.Conv2d(channels, outputs, 1))
        return nn.ModuleDict({"conv": conv})

    channels = [96, 1280, 512, 256, 256, 64]
    heads = {name: nn.ModuleList([separable(c, 6 * k) for c in channels[:-1]] + [nn.Conv2d(channels[-1], 6 * k, 1)])
             for name, k in (("cls_headers", num_classes), ("reg_headers", 4))}
    extras = [InvertedResidual(1280, 512, 2, 0.2), InvertedResidual(512, 256, 2, 0.25),
              InvertedResidual(256, 256, 2, 0.5), InvertedResidual(256, 64, 2, 0.25)]
    return nn.ModuleDict({
        "backbone": nn.ModuleDict({"features": mobilenet_v2().features, "extras": nn.ModuleList(extras)}),
        "box_head": nn.ModuleDict({"predictor": nn.ModuleDict(heads)}),
    })


def _run_lufficc_mnv2(net: nn.Module, x: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """lufficc's forward: maps after features[:14] and after the rest, then each extra level."""
    features = net["backbone"]["features"]
    x = features[:14](x)
    maps = [x]
    x = features[14:](x)
    maps.append(x)
    for block in net["backbone"]["extras"]:
        x = block(x)
        maps.append(x)
    predictor = net["box_head"]["predictor"]
    outputs = []
    for name, k in (("cls_headers", num_classes), ("reg_headers", 4)):
        flat = []
        for head, m in zip(predictor[name], maps, strict=True):
            y = head["conv"](m) if isinstance(head, nn.ModuleDict) else head(m)
            flat.append(y.permute(0, 2, 3, 1).reshape(m.shape[0], -1))
        outputs.append(torch.cat(flat, 1).view(m.shape[0], -1, k))
    return outputs[0], outputs[1]


def _lufficc_priors(feature_maps, steps, min_sizes, max_sizes, aspect_ratios, image_size=320):
    """lufficc's PriorBox (ssd/modeling/anchors/prior_box.py): ``Tensor[P, 4]`` cx, cy, w, h relative
    to the image, per level row-major cells, per cell min, sqrt(min max), then each ratio r as
    (w sqrt r, h / sqrt r) and (w / sqrt r, h sqrt r); clamped to [0, 1]."""
    priors = []
    for k, f in enumerate(feature_maps):
        scale = image_size / steps[k]
        for i in range(f):
            for j in range(f):
                cx, cy = (j + 0.5) / scale, (i + 0.5) / scale
                s = min_sizes[k] / image_size
                big = math.sqrt(min_sizes[k] * max_sizes[k]) / image_size
                priors += [[cx, cy, s, s], [cx, cy, big, big]]
                for r in aspect_ratios[k]:
                    r = math.sqrt(r)
                    priors += [[cx, cy, s * r, s / r], [cx, cy, s / r, s * r]]
    return torch.tensor(priors).clamp_(min=0, max=1)


def test_converted_mobilenet_v2_has_the_v2_checkpoints_priors():
    # lufficc changed the last three steps to 107, 160, 320 in the commit that released
    # mobilenet_v2_ssd320_voc0712_v2.pth ("fix #137"); the converted config must use them
    cfg = _cfg("ssdlite320_mnv2_voc0712_lufficc")
    assert list(cfg.MODEL.PRIORS.STRIDES) == [16, 32, 64, 107, 160, 320]
    model = build_model(cfg)
    expected = _lufficc_priors([20, 10, 5, 3, 2, 1], [16, 32, 64, 107, 160, 320], [60, 105, 150, 195, 240, 285],
                               [105, 150, 195, 240, 285, 330], [[2, 3]] * 6)
    cx, cy, w, h = expected.unbind(1)
    xyxy = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1) * 320
    assert model.box_head.priors.shape == (3234, 4)
    torch.testing.assert_close(model.box_head.priors, xyxy, rtol=0, atol=1e-4)
    # the first release's steps put the last three levels' centres elsewhere (up to 17.5 px)
    old = _lufficc_priors([20, 10, 5, 3, 2, 1], [16, 32, 64, 100, 150, 300], [60, 105, 150, 195, 240, 285],
                          [105, 150, 195, 240, 285, 330], [[2, 3]] * 6)
    moved = (old[:, :2] - expected[:, :2]).abs().amax(1) * 320
    assert torch.count_nonzero(moved > 1e-3) == 84 and abs(moved.max().item() - 17.5) < 1e-3


def test_converted_mobilenet_v2_computes_lufficc_outputs(tmp_path):
    g = torch.Generator().manual_seed(5)
    state = synthetic_state_dict("lufficc_mobilenet_v2_ssd320_voc0712", seed=2)
    for key, value in state.items():  # healthy statistics and He-scaled convs keep signals alive
        if key.endswith("running_var"):
            state[key] = torch.rand(value.shape, generator=g) + 0.5
        elif key.endswith("running_mean"):
            state[key] = torch.randn(value.shape, generator=g) * 0.1
        elif value.dim() == 1 and key.endswith("weight"):
            state[key] = torch.rand(value.shape, generator=g) + 0.5
        elif value.dim() == 4:
            state[key] = value / 0.05 * math.sqrt(2.0 / value[0].numel())
    reference = _lufficc_mnv2_ssdlite(21)
    reference.load_state_dict(state, strict=True)
    reference.eval()
    source = tmp_path / "mobilenet_v2_ssd320_voc0712_v2.pth"
    torch.save({"model": state}, source)

    model, _ = convert_weights(source="lufficc", weights=str(source), cfg=_cfg("ssdlite320_mnv2_voc0712_lufficc"))
    model.eval()
    images = torch.randint(0, 256, (1, 3, 320, 320), generator=torch.Generator().manual_seed(4), dtype=torch.uint8)
    mean = torch.tensor([123.0, 117.0, 104.0]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected_cls, expected_reg = _run_lufficc_mnv2(reference, images.float() - mean, 21)
        cls, reg = model.box_head.predictor(model.features(images))
    assert cls.shape == (1, 3234, 21) and reg.shape == (1, 3234, 4)
    assert expected_cls.abs().amax() > 1.0
    torch.testing.assert_close(cls, expected_cls, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(reg, expected_reg, rtol=1e-4, atol=1e-4)
