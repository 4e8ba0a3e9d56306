"""MobileNeXt in the authors' form (houqb/ssdlite-pytorch-mobilenext): block structure and checkpoint
names against the reference key list of its ``mnext.pth.tar``, the stride-32 tap before the last
linear depthwise conv, the depthwise-first sandglass extras, BatchNorm defaults, and the refusal to
train its configs from random backbone weights unasked."""

import json
import os
import re

import pytest
import torch

from ssd.config import load_config
from ssd.engine.preflight import check_backbone_start
from ssd.modeling import build_model
from ssd.modeling.backbone import build_backbone
from ssd.modeling.backbone.mobilenext import MobileNeXtBackbone
from ssd.tools.train import main as train_main

from .conftest import HOUQB_KEYS, HOUQB_WEIGHTS, houqb_mobilenext_state

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MNEXT_CONFIGS = ["ssdlite320_mnext_coco.yaml", "ssdlite320_mnext_fpn_coco.yaml", "ssdlite320_mnext_voc0712.yaml"]


def _cfg(name, *opts):
    return load_config(os.path.join(ROOT, "configs", name), list(opts))


def _reference_shapes():
    with open(HOUQB_KEYS, encoding="utf-8") as f:
        return json.load(f)


def _conv_shapes_per_block(state):
    """``block -> [conv weight shapes in layer order]`` of a ``features.*`` state dict, either naming."""
    out = {}
    for k, v in state.items():
        m = re.match(r"features\.(\d+)\.", k)
        shape = tuple(v) if isinstance(v, list) else tuple(v.shape)
        if m and k.endswith("weight") and len(shape) == 4:
            out.setdefault(int(m[1]), []).append(shape)
    return out


def test_houqb_blocks_have_the_checkpoints_convs_in_order():
    backbone = MobileNeXtBackbone(variant="houqb")
    ours = _conv_shapes_per_block(backbone.state_dict())
    assert ours == _conv_shapes_per_block(_reference_shapes())
    # the blocks the issue names: 3, 6, 13 without the leading depthwise, 9 and 17 without either
    kinds = {b: ["dw" if s[1] == 1 else "pw" for s in shapes] for b, shapes in ours.items() if b > 0}
    for b in (3, 6, 13):
        assert kinds[b] == ["pw", "pw", "dw"], b
    for b in (9, 17):
        assert kinds[b] == ["pw", "pw"], b
    assert all(kinds[b] == ["dw", "pw", "pw", "dw"] for b in kinds if b not in (3, 6, 9, 13, 17))
    # the paper's uniform blocks (7 more conv + BN layers: 486 tensors) cannot take the checkpoint
    paper = MobileNeXtBackbone(variant="paper").state_dict()
    assert len(paper) == 444 + 7 * 6


def test_the_paper_form_refuses_the_authors_checkpoint(tmp_path):
    path = tmp_path / "mnext.pth.tar"
    torch.save(houqb_mobilenext_state(), path)
    cfg = _cfg("ssdlite320_mnext_coco.yaml", "MODEL.BACKBONE.WEIGHTS", str(path), "MODEL.BACKBONE.VARIANT", "paper",
               "MODEL.BACKBONE.LAST_TAP", "output", "MODEL.NECK.NAME", "ssdlite_extras")
    with pytest.raises(ValueError, match="MobileNeXtBackbone tensors uninitialised"):
        build_backbone(cfg)


def test_every_backbone_tensor_comes_from_the_authors_checkpoint(tmp_path, caplog):
    state = houqb_mobilenext_state(seed=3)  # random values, the reference key names and shapes
    path = tmp_path / "mnext.pth.tar"
    torch.save(state, path)
    cfg = _cfg("ssdlite320_mnext_coco.yaml", "MODEL.BACKBONE.WEIGHTS", str(path))
    backbone = build_backbone(cfg)
    own = backbone.state_dict()
    assert len(own) == len(_reference_shapes()) == 444
    # one to one: every own tensor equals exactly one file tensor, each file tensor used once
    # (random values make equal tensors of different keys impossible)
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    used = set()
    for k, v in own.items():
        hits = [fk for fk, fv in features.items() if fv.shape == v.shape and torch.equal(fv, v)]
        assert len(hits) == 1, (k, hits)
        used.add(hits[0])
    assert used == set(features)
    # the mapping, worked out by hand from the two layouts
    pairs = {
        "features.0.0.weight": "features.0.0.weight",  # stem conv
        "features.1.conv.3.0.weight": "features.1.conv.8.weight",  # full block: 4th conv at 8
        "features.3.conv.0.0.weight": "features.3.conv.0.weight",  # no leading dw: 1x1 reduce first
        "features.3.conv.1.1.running_var": "features.3.conv.3.running_var",  # BN after its 2nd conv
        "features.9.conv.1.0.weight": "features.9.conv.2.weight",  # neither dw: 1x1 expand at 2
        "features.20.conv.3.1.bias": "features.20.conv.9.bias",  # the final linear dw's BN
    }
    for ours, theirs in pairs.items():
        assert torch.equal(own[ours], state[theirs]), ours


def test_the_head_sees_the_map_before_the_final_linear_depthwise_conv():
    backbone = MobileNeXtBackbone(variant="houqb", last_tap="before_linear").eval()
    assert [(s.channels, s.stride) for s in backbone.output_shape()] == [(576, 16), (1280, 32), (1280, 32)]
    assert backbone.neck_input_only
    x = torch.randn(1, 3, 320, 320)
    with torch.no_grad():
        c4, c5_head, c5_out = backbone(x)
        y = backbone.features[:13](x)
        want_c4 = backbone.features[13].conv[:2](y)  # after the 1x1 expand + ReLU6, before the strided dw
        z = backbone.features[:20](x)
        want_head = backbone.features[20].conv[:3](z)
        want_out = backbone.features[20].conv[3](want_head)
    torch.testing.assert_close(c4, want_c4, rtol=0, atol=0)
    torch.testing.assert_close(c5_head, want_head, rtol=0, atol=0)
    torch.testing.assert_close(c5_out, want_out, rtol=0, atol=0)
    assert (c4.shape[1:], c5_head.shape[1:]) == ((576, 20, 20), (1280, 10, 10))


def test_ssdlite320_mnext_model_is_houqbs():
    model = build_model(_cfg("ssdlite320_mnext_coco.yaml", "MODEL.BACKBONE.WEIGHTS", "")).eval()
    assert model.neck.out_channels == [576, 1280, 512, 256, 256, 128]
    assert model.box_head.priors.shape == (3234, 4)  # 6 x (400 + 100 + 25 + 9 + 4 + 1)
    # houqb's sg_block_extra: dw 3x3 s2 + ReLU6, 1x1 to int(C_in * ratio) linear, 1x1 + ReLU6
    layout = []
    for block in model.neck.blocks:
        dw, reduce, expand = (layer[0] for layer in block)
        assert dw.groups == dw.in_channels and dw.stride == (2, 2)
        assert len(block[1]) == 2 and isinstance(block[2][-1], torch.nn.ReLU6)  # linear reduce
        layout.append((dw.in_channels, reduce.out_channels, expand.out_channels))
    assert layout == [(1280, 256, 512), (512, 128, 256), (256, 128, 256), (256, 128, 128)]
    # PyTorch's BatchNorm defaults everywhere, as houqb's code
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all((m.eps, m.momentum) == (1e-5, 0.1) for m in norms)
    with torch.no_grad():
        maps = model.neck(model.backbone(torch.zeros(1, 3, 320, 320)))
    assert [tuple(m.shape[-2:]) for m in maps] == [(20, 20), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]


def test_before_linear_tap_needs_the_sandglass_neck():
    cfg = _cfg("ssdlite320_mnext_coco.yaml", "MODEL.BACKBONE.WEIGHTS", "", "MODEL.NECK.NAME", "ssdlite_extras",
               "MODEL.NECK.MID_CHANNELS", "[]")
    with pytest.raises(ValueError, match="neck_input_only = True .* ssdlite_extras neck_input_only = False"):
        build_model(cfg)


@pytest.mark.parametrize("name", MNEXT_CONFIGS)
def test_mnext_configs_name_the_authors_weights(name):
    b = _cfg(name).MODEL.BACKBONE
    assert (b.VARIANT, b.WEIGHTS, b.WEIGHTS_REQUIRED) == ("houqb", HOUQB_WEIGHTS, True)


@pytest.mark.parametrize("name", MNEXT_CONFIGS)
def test_mnext_configs_refuse_a_long_run_from_random_weights(name):
    cfg = _cfg(name, "MODEL.BACKBONE.WEIGHTS", "")
    with pytest.raises(ValueError, match=r"^x\.yaml: .*set MODEL\.BACKBONE\.FROM_SCRATCH True"):
        check_backbone_start(cfg, source="x.yaml")
    check_backbone_start(_cfg(name, "MODEL.BACKBONE.WEIGHTS", "", "MODEL.BACKBONE.FROM_SCRATCH", "True"), source="x")
    check_backbone_start(_cfg(name, "MODEL.BACKBONE.WEIGHTS", "", "SOLVER.MAX_ITER", "1000"), source="x")
    check_backbone_start(_cfg(name), source="x")  # weights named


def test_train_cli_refuses_in_one_line(capsys):
    path = os.path.join(ROOT, "configs", "ssdlite320_mnext_coco.yaml")
    assert train_main(["--config-file", path, "MODEL.BACKBONE.WEIGHTS", ""]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "MODEL.BACKBONE.FROM_SCRATCH" in err[0] and path in err[0]
