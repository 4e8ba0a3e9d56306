"""The backbone zoo: declared channels and strides, map sizes, parameter counts against torchvision
and the published figures, tap layouts."""

import functools
import json
import os
import re

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models import efficientnet_b3, mobilenet_v2, resnet50

from ssd.config import get_cfg, load_config
from ssd.modeling import build_model
from ssd.modeling.backbone.efficientnet import EfficientNetB3Backbone
from ssd.modeling.backbone.mobilenet_v2 import MobileNetV2Backbone
from ssd.modeling.backbone.mobilenet_v3 import MobileNetV3Backbone
from ssd.modeling.backbone.mobilenext import MobileNeXt, MobileNeXtBackbone, SandGlassBlock
from ssd.modeling.backbone.resnet import ResNet50Backbone
from ssd.modeling.registry import BACKBONES
from ssd.utils.model_stats import count_flops, count_parameters

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# copies of ../shared/reference/lufficc_state_dicts, so the tests do not depend on the checkout's neighbours
FIXTURES = os.path.join(ROOT, "tests", "convert", "fixtures")


def _cfg(name, *opts):
    return load_config(os.path.join(ROOT, "configs", name), ["MODEL.BACKBONE.WEIGHTS", "", *opts])


@functools.cache
def _model(name):
    """A detector built once per config for the tests that only inspect it."""
    return build_model(_cfg(name))


def _shapes(module, size):
    with torch.no_grad():
        return [tuple(f.shape[1:]) for f in module.eval()(torch.zeros(1, 3, size, size))]


def _within(value, published, tolerance):
    return abs(value - published) <= tolerance * published


def _shape_lists(state_dict, reference, pairs):
    """Per (our prefix, reference prefix): the ordered tensor shapes of each side."""
    return [
        ([tuple(v.shape) for k, v in state_dict.items() if k.startswith(ours)],
         [tuple(v) for k, v in reference.items() if k.startswith(theirs)])
        for ours, theirs in pairs
    ]


def _lufficc(name):
    with open(os.path.join(FIXTURES, f"lufficc_{name}"), encoding="utf-8") as f:
        return json.load(f)


# --- every registered backbone ------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BACKBONES))
def test_every_backbone_returns_its_declared_channels_and_strides(name):
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.NAME = name
    backbone = BACKBONES.get(name)(cfg)
    assert len(backbone.out_channels) == len(backbone.strides) > 0
    expected = [(c, -(-128 // s), -(-128 // s)) for c, s in zip(backbone.out_channels, backbone.strides, strict=True)]
    assert _shapes(backbone, 128) == expected


# --- MobileNetV2 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant, strides, expected",
    [
        # paper: expansion of layer 15 (features[14]: 96 x 6) and the final conv (MobileNetV2 §6.2)
        ("paper", [16, 32], [(576, 20, 20), (1280, 10, 10)]),
        # + the expansion of features[7] (32 x 6) at stride 8, for an FPN
        ("paper", [8, 16, 32], [(192, 40, 40), (576, 20, 20), (1280, 10, 10)]),
        # lufficc: output of features[13] (96 channels) and the final conv
        ("lufficc", [16, 32], [(96, 20, 20), (1280, 10, 10)]),
        ("lufficc", [8, 16, 32], [(32, 40, 40), (96, 20, 20), (1280, 10, 10)]),
    ],
)
def test_mobilenet_v2_taps(variant, strides, expected):
    backbone = MobileNetV2Backbone(variant=variant, out_strides=strides)
    assert backbone.strides == strides
    assert backbone.out_channels == [c for c, _, _ in expected]
    assert _shapes(backbone, 320) == expected


def test_mobilenet_v2_is_torchvisions_features():
    ours = MobileNetV2Backbone().state_dict()
    theirs = mobilenet_v2(weights=None).features.state_dict()
    assert {k: v.shape for k, v in ours.items()} == {f"features.{k}": v.shape for k, v in theirs.items()}
    assert count_parameters(MobileNetV2Backbone()) == 2_223_872


def test_mobilenet_v2_rejects_a_stride_it_does_not_have():
    with pytest.raises(ValueError, match="no stride-12 map"):
        MobileNetV2Backbone(out_strides=[12, 32])
    with pytest.raises(ValueError, match=r"strides \[16, 64\] reach beyond the network's stride 32"):
        MobileNetV2Backbone(out_strides=[16, 64])
    with pytest.raises(ValueError, match="variant = 'tf'"):
        MobileNetV2Backbone(variant="tf")


def test_ssdlite320_mnv2_against_the_paper():
    # MobileNetV2 §6.2, Table 6: SSDLite 4.3M parameters, 0.8B multiply-adds (320 px, COCO).
    # The TF model puts 3 boxes on the first level; ours 6 (torchvision's layout): slightly more.
    model = build_model(_cfg("ssdlite320_mnv2_coco.yaml"))
    assert model.backbone.out_channels == [576, 1280]
    assert model.neck.out_channels == [576, 1280, 512, 256, 256, 128]
    assert model.box_head.priors.shape == (3234, 4)
    params = count_parameters(model)
    assert params == 4_484_148 and _within(params, 4.3e6, 0.05)
    assert _within(count_flops(model, 320) / 2, 0.8e9, 0.07)


# --- MobileNetV3-Small ---------------------------------------------------------------------------


def test_ssdlite320_mnv3_small_against_the_paper():
    # MobileNetV3 §6.3, Table 6: V3-Small with the reduced tail, 1.77M parameters (and 0.16B MAdds,
    # where torch's FLOP counter finds 0.19B: see README, "The SSDLite-FPN neck").
    model = build_model(_cfg("ssdlite320_mnv3small_coco.yaml"))
    assert model.backbone.out_channels == [288, 288]  # 9th bottleneck's expansion, halved C5
    assert model.backbone.strides == [16, 32]
    assert [f[1:] for f in _shapes(model.backbone, 320)] == [(20, 20), (10, 10)]
    params = count_parameters(model)
    assert params == 1_764_068 and _within(params, 1.77e6, 0.05)


def test_mnv3_small_full_tail_and_c4_tap():
    backbone = BACKBONES.get("mobilenet_v3_small")(_cfg("ssdlite320_mnv3small_coco.yaml",
                                                        "MODEL.BACKBONE.REDUCED_TAIL", "False"))
    # the shared tap plan: inside features[9] (the last stride-2 block), after its 1x1 expansion
    # (block[0]) and before its strided depthwise conv (block[1])
    assert [(t.block, t.split) for t in backbone.taps] == [(9, 1), (12, None)]
    assert backbone.features[9].block[1][0].stride == (2, 2)
    assert backbone.out_channels == [288, 576]


@pytest.mark.parametrize("arch, c4_block", [("large", 13), ("small", 9)])
def test_mnv3_c4_tap_is_the_expansion_conv_output(arch, c4_block):
    torch.manual_seed(0)
    backbone = MobileNetV3Backbone(arch=arch).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        c4, c5 = backbone(x)
        y = backbone.features[:c4_block](x)
        expected_c4 = backbone.features[c4_block].block[0](y)
        expected_c5 = backbone.features(x)
    torch.testing.assert_close(c4, expected_c4, rtol=0, atol=0)
    torch.testing.assert_close(c5, expected_c5, rtol=0, atol=0)


# --- EfficientNet-B3 -----------------------------------------------------------------------------


def test_efficientnet_b3_taps_and_torchvision_parameters():
    backbone = EfficientNetB3Backbone()
    assert backbone.out_channels == [48, 136, 384] and backbone.strides == [8, 16, 32]
    assert _shapes(backbone, 300) == [(48, 38, 38), (136, 19, 19), (384, 10, 10)]
    # torchvision's features without the 1x1 head conv to 1536
    assert count_parameters(backbone) == count_parameters(efficientnet_b3().features[:-1]) == 10_103_336


def test_ssd300_effb3_model_matches_lufficc_shapes_one_to_one():
    model = build_model(_cfg("ssd300_effb3_voc0712.yaml"))
    assert model.neck.out_channels == [48, 136, 384, 256, 256, 256]
    assert model.box_head.priors.shape == (8732, 4)
    reference = _lufficc("efficient_net_b3_ssd300_voc0712.json")
    pairs = [("backbone.", "backbone._"), ("neck.", "backbone.extras."), ("box_head.", "box_head.")]
    for ours, theirs in _shape_lists(model.state_dict(), reference, pairs):
        assert len(ours) == len(theirs) > 0
        assert ours == theirs
    assert count_parameters(model) == 12_656_262


# --- MobileNeXt ----------------------------------------------------------------------------------


def _convs(block):
    """(conv, has BN, activation type or None) for each Conv2dNormActivation of a sandglass block."""
    out = []
    for layer in block.conv:
        conv, rest = layer[0], list(layer)[1:]
        activation = type(rest[1]) if len(rest) > 1 else None
        out.append((conv, isinstance(rest[0], torch.nn.BatchNorm2d), activation))
    return out


def test_sandglass_block_structure():
    block = SandGlassBlock(in_channels=192, out_channels=192, stride=1, reduction=6)
    (dw1, bn1, act1), (red, bn2, act2), (exp, bn3, act3), (dw2, bn4, act4) = _convs(block)
    # depthwise 3x3 on the wide input, ReLU6
    assert (dw1.in_channels, dw1.out_channels, dw1.groups, dw1.kernel_size) == (192, 192, 192, (3, 3))
    assert act1 is torch.nn.ReLU6
    # 1x1 reduce to 192 / 6 = 32, linear
    assert (red.in_channels, red.out_channels, red.kernel_size, act2) == (192, 32, (1, 1), None)
    # 1x1 expand back, ReLU6
    assert (exp.in_channels, exp.out_channels, act3) == (32, 192, torch.nn.ReLU6)
    # depthwise 3x3 carrying the stride, linear
    assert (dw2.groups, dw2.stride, act4) == (192, (1, 1), None)
    assert bn1 and bn2 and bn3 and bn4
    # the shortcut joins the wide ends: output = input + conv(input)
    assert block.use_res_connect
    x = torch.randn(1, 192, 5, 5)
    block.eval()
    torch.testing.assert_close(block(x), x + block.conv(x))


def test_sandglass_block_without_shortcut_and_minimum_width():
    # 384 -> 576, stride 2 (first block of the 576 stage): no shortcut; 384 // 6 = 64 < 576 / 6,
    # so the reduced width becomes 96 (the authors' rule)
    block = SandGlassBlock(in_channels=384, out_channels=576, stride=2, reduction=6)
    (_, _, _), (red, _, _), (exp, _, _), (dw2, _, _) = _convs(block)
    assert red.out_channels == 96 and exp.out_channels == 576
    assert dw2.stride == (2, 2) and dw2.groups == 576
    assert not block.use_res_connect
    assert tuple(block.eval()(torch.zeros(1, 384, 20, 20)).shape) == (1, 576, 10, 10)


def test_mobilenext_classifier_against_the_paper():
    # ~3.5M parameters and ~300M multiply-adds at 224 px, width 1.0 (the paper's Table 3). Our
    # uniform sandglass blocks count 319M (the authors' code drops the first depthwise conv of
    # blocks that change width: 309M).
    model = MobileNeXt()
    params = count_parameters(model)
    assert params == 3_567_624 and _within(params, 3.5e6, 0.05)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        logits = model.eval()(torch.zeros(1, 3, 224, 224))
    assert logits.shape == (1, 1000)
    madds = counter.get_total_flops() / 2
    assert madds == 319_301_760 and _within(madds, 300e6, 0.07)


@pytest.mark.parametrize(
    "strides, expected",
    [
        ([16, 32], [(576, 20, 20), (1280, 10, 10)]),
        ([8, 16, 32], [(288, 40, 40), (576, 20, 20), (1280, 10, 10)]),
    ],
)
def test_mobilenext_taps(strides, expected):
    backbone = MobileNeXtBackbone(out_strides=strides)
    assert backbone.out_channels == [c for c, _, _ in expected] and backbone.strides == strides
    # the stride-16 tap is inside features[13] (384 -> 576, stride 2), before its strided depthwise
    tap = backbone.taps[-2]
    assert (tap.block, tap.split) == (13, 3)
    assert backbone.features[13].conv[3][0].stride == (2, 2)
    assert _shapes(backbone, 320) == expected
    classifier_features = {k: v.shape for k, v in MobileNeXt().features.state_dict().items()}
    assert {k: v.shape for k, v in backbone.state_dict().items()} == {
        f"features.{k}": v for k, v in classifier_features.items()
    }


def test_ssdlite320_mnext_model():
    model = build_model(_cfg("ssdlite320_mnext_coco.yaml"))
    assert model.neck.out_channels == [576, 1280, 512, 256, 256, 128]
    assert model.box_head.priors.shape == (3234, 4)
    # the authors' backbone: 2,254,416 (the sum of the reference checkpoint's weights and biases),
    # their sandglass extras: sum over levels of 11 C_in + (C_in + 2) mid + (mid + 2) out = 700,672
    assert count_parameters(model.backbone) == 2_254_416
    assert count_parameters(model.neck) == 700_672
    assert count_parameters(model) == 4_558_404


# --- lufficc's MobileNetV2 SSDLite320 ------------------------------------------------------------


def _lufficc_name(key):
    """lufficc's key -> ours, by the correspondence the module docstrings state."""
    key = key.replace("backbone.extras.", "neck.blocks.")
    key = re.sub(r"predictor\.(cls|reg)_headers\.(\d+)\.conv\.", r"predictor.\1_heads.\2.", key)
    return re.sub(r"predictor\.(cls|reg)_headers\.", r"predictor.\1_heads.", key)


def test_ssdlite320_mnv2_lufficc_matches_lufficc_keys_and_shapes():
    model = _model("ssdlite320_mnv2lufficc_voc0712.yaml")
    assert model.neck.out_channels == [96, 1280, 512, 256, 256, 64]
    assert model.box_head.priors.shape == (3234, 4)
    reference = _lufficc("mobilenet_v2_ssd320_voc0712.json")
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == {_lufficc_name(k): tuple(v) for k, v in reference.items()}
    assert count_parameters(model) == 3_304_708


def test_lufficc_predictor_and_extras_structure():
    model = _model("ssdlite320_mnv2lufficc_voc0712.yaml")
    heads = model.box_head.predictor.cls_heads
    depthwise = heads[0][0]
    assert depthwise.groups == 96 and depthwise.bias is not None  # lufficc's SeperableConv2d
    assert isinstance(heads[-1], torch.nn.Conv2d) and heads[-1].kernel_size == (1, 1)
    # the extras end in a linear 1x1 projection + BN (no ReLU6): negative outputs survive
    block = model.neck.blocks[0].eval()
    assert isinstance(block.conv[-1], torch.nn.BatchNorm2d)
    with torch.no_grad():
        assert block(torch.randn(1, 1280, 10, 10)).min() < 0


# --- ResNet-50 (NVIDIA DeepLearningExamples SSD300) ----------------------------------------------


def test_resnet50_conv4_at_stride_8():
    backbone = ResNet50Backbone()
    assert backbone.out_channels == [1024] and backbone.strides == [8]
    assert _shapes(backbone, 300) == [(1024, 38, 38)]
    # torchvision's resnet50 up to layer3, parameter for parameter (only strides changed)
    reference = resnet50()
    expected = {k: v.shape for k, v in reference.state_dict().items() if not k.startswith(("layer4.", "fc."))}
    assert {k: v.shape for k, v in backbone.state_dict().items()} == expected
    assert count_parameters(backbone) == 8_543_296


def test_ssd300_resnet50_model():
    model = build_model(_cfg("ssd300_resnet50_coco.yaml"))
    assert model.neck.out_channels == [1024, 512, 512, 256, 256, 256]
    assert model.box_head.priors.shape == (8732, 4)
    # extras: 1x1 + BN + ReLU, 3x3 + BN + ReLU, no conv biases (NVIDIA's additional_blocks)
    first = model.neck.blocks[0]
    assert first[0][0].bias is None and isinstance(first[0][1], torch.nn.BatchNorm2d)
    assert first[1][0].stride == (2, 2) and model.neck.blocks[3][1][0].padding == (0, 0)
    assert count_parameters(model) == 22_894_902
