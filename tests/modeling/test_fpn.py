"""The FPN neck: declared channels, level sizes, smoothing structure, top-down flow, configs."""

import os

import pytest
import torch
from torch import nn

from ssd.config import load_config
from ssd.modeling import build_model
from ssd.modeling.neck.fpn import FPNNeck

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _maps(channels=(192, 576, 1280), sizes=(40, 20, 10), requires_grad=False):
    pairs = zip(channels, sizes, strict=True)
    return [torch.randn(2, c, s, s, requires_grad=requires_grad) for c, s in pairs]


@pytest.mark.parametrize("depthwise", [True, False])
def test_output_shapes_and_declared_channels(depthwise):
    neck = FPNNeck(in_channels=[192, 576, 1280], channels=128, num_extra=2, depthwise=depthwise).eval()
    assert neck.out_channels == [128] * 5
    with torch.no_grad():
        outs = neck(_maps())
    assert [tuple(o.shape) for o in outs] == [(2, 128, s, s) for s in (40, 20, 10, 5, 3)]


def test_odd_sizes_and_no_extras():
    neck = FPNNeck(in_channels=[32, 64], channels=16, num_extra=0).eval()
    with torch.no_grad():
        outs = neck(_maps((32, 64), (19, 10)))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 19, 19), (2, 16, 10, 10)]
    assert neck.out_channels == [16, 16]


def test_depthwise_smoothing_and_extras_structure():
    neck = FPNNeck(in_channels=[192, 576, 1280], channels=128, num_extra=2, depthwise=True)
    for block in neck.fpn.layer_blocks:
        dw, pw = block[0][0], block[1][0]
        assert (dw.groups, dw.kernel_size, dw.stride) == (128, (3, 3), (1, 1))
        assert (pw.groups, pw.kernel_size) == (1, (1, 1))
    for block in neck.extras:
        assert block[0][0].groups == 128 and block[0][0].stride == (2, 2)
    dense = FPNNeck(in_channels=[192, 576, 1280], channels=128, num_extra=2, depthwise=False)
    for block in dense.fpn.layer_blocks:
        assert block[0].groups == 1 and block[0].kernel_size == (3, 3)
    # lateral 1x1 convs from each backbone map, as torchvision builds them
    assert [b[0].in_channels for b in dense.fpn.inner_blocks] == [192, 576, 1280]
    params = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert params(neck) < params(dense)


def test_top_down_pathway():
    # the finest level sees the coarsest map (top-down addition); the coarsest does not see the finest
    neck = FPNNeck(in_channels=[8, 16, 32], channels=8, num_extra=1)
    maps = _maps((8, 16, 32), (8, 4, 2), requires_grad=True)
    outs = neck(maps)
    outs[0].sum().backward(retain_graph=True)
    assert maps[2].grad is not None and maps[2].grad.abs().sum() > 0
    for m in maps:
        m.grad = None
    outs[2].sum().backward(retain_graph=True)
    assert maps[0].grad is None and maps[1].grad is None
    outs[3].sum().backward()  # the extra level grows from the coarsest pyramid output
    assert maps[0].grad is None


def test_rejects_a_single_map():
    with pytest.raises(ValueError, match=r"at least 2 backbone maps, got channels \[1280\]"):
        FPNNeck(in_channels=[1280])


@pytest.mark.parametrize(
    "name, backbone_channels",
    [
        ("ssdlite320_mnv2_fpn_coco.yaml", [192, 576, 1280]),
        ("ssdlite320_mnext_fpn_coco.yaml", [288, 576, 1280]),
    ],
)
def test_fpn_configs_build_five_levels(name, backbone_channels):
    cfg = load_config(os.path.join(ROOT, "configs", name), ["MODEL.BACKBONE.WEIGHTS", ""])
    model = build_model(cfg)
    assert model.backbone.strides == [8, 16, 32]
    assert model.backbone.out_channels == backbone_channels
    assert isinstance(model.neck, FPNNeck) and model.neck.out_channels == [128] * 5
    # 6 boxes per cell on 40, 20, 10, 5, 3
    assert model.box_head.priors.shape == (6 * (1600 + 400 + 100 + 25 + 9), 4)


def test_level_count_mismatch_is_reported():
    cfg = load_config(os.path.join(ROOT, "configs", "ssdlite320_mnv2_fpn_coco.yaml"),
                      ["MODEL.BACKBONE.WEIGHTS", "", "MODEL.NECK.FPN_NUM_EXTRA", "3"])
    with pytest.raises(ValueError, match="produce 6 feature maps.*describes 5 levels"):
        build_model(cfg)


def test_torchvision_fpn_is_used_as_is_when_dense():
    from torchvision.ops import FeaturePyramidNetwork

    neck = FPNNeck(in_channels=[8, 16], channels=8, num_extra=0, depthwise=False).eval()
    reference = FeaturePyramidNetwork([8, 16], 8, norm_layer=nn.BatchNorm2d).eval()
    reference.load_state_dict(neck.fpn.state_dict())
    maps = _maps((8, 16), (6, 3))
    with torch.no_grad():
        expected = list(reference({"0": maps[0], "1": maps[1]}).values())
        for ours, theirs in zip(neck(maps), expected, strict=True):
            torch.testing.assert_close(ours, theirs)
