"""The backbone zoo: declared channels and strides, map sizes, parameter counts against torchvision
and the published figures, tap layouts."""

import os

import pytest
import torch
from torchvision.models import mobilenet_v2

from ssd.config import load_config
from ssd.modeling import build_model
from ssd.modeling.backbone.mobilenet_v2 import MobileNetV2Backbone
from ssd.modeling.registry import BACKBONES
from ssd.utils.model_stats import count_flops, count_parameters

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cfg(name, *opts):
    return load_config(os.path.join(ROOT, "configs", name), ["MODEL.BACKBONE.WEIGHTS", "", *opts])


def _shapes(module, size):
    with torch.no_grad():
        return [tuple(f.shape[1:]) for f in module.eval()(torch.zeros(1, 3, size, size))]


def _within(value, published, tolerance):
    return abs(value - published) <= tolerance * published


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
    # where torch's FLOP counter finds 0.19B: see docs/zoo.md).
    model = build_model(_cfg("ssdlite320_mnv3small_coco.yaml"))
    assert model.backbone.out_channels == [288, 288]  # 9th bottleneck's expansion, halved C5
    assert model.backbone.strides == [16, 32]
    assert [f[1:] for f in _shapes(model.backbone, 320)] == [(20, 20), (10, 10)]
    params = count_parameters(model)
    assert params == 1_764_068 and _within(params, 1.77e6, 0.05)


def test_mnv3_small_full_tail_and_c4_index():
    backbone = BACKBONES.get("mobilenet_v3_small")(_cfg("ssdlite320_mnv3small_coco.yaml",
                                                        "MODEL.BACKBONE.REDUCED_TAIL", "False"))
    assert backbone.c4_index == 9
    assert backbone.out_channels == [288, 576]
