"""MODEL.BACKBONE.INIT: torchvision's SSDLite re-initialises its backbone with N(0, 0.03) when it
trains without ImageNet weights (``ssdlite320_mobilenet_v3_large``: ``_normal_init(backbone)``);
the recipe configs that train from scratch do the same, compared here with torchvision's builder."""

import os

import pytest
import torch
from torchvision.models.detection import ssdlite320_mobilenet_v3_large

from ssd.config import load_config
from ssd.modeling.backbone import build_backbone

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cfg(name, *opts):
    return load_config(os.path.join(ROOT, "configs", name), list(opts))


def _convs(module):
    return [m for m in module.modules() if isinstance(m, torch.nn.Conv2d)]


def _stats(module):
    """(shape, weight std) of every conv with at least 2,000 weights, in module order."""
    return [(tuple(c.weight.shape), c.weight.std().item()) for c in _convs(module) if c.weight.numel() >= 2000]


def test_headline_backbone_init_matches_torchvision():
    torch.manual_seed(0)
    theirs = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None).backbone.features
    torch.manual_seed(1)
    ours = build_backbone(_cfg("ssdlite320_mnv3_coco.yaml")).features
    ours_stats, theirs_stats = _stats(ours), _stats(theirs)
    # the same convs (reduced tail included), in the same order
    assert [s for s, _ in ours_stats] == [s for s, _ in theirs_stats]
    assert len(ours_stats) == 46
    for (shape, a), (_, b) in zip(ours_stats, theirs_stats, strict=True):
        # both drawn from N(0, 0.03): sample stds within 10 % of 0.03 (>= 2,000 draws each)
        assert abs(a - 0.03) < 0.003 and abs(b - 0.03) < 0.003, (shape, a, b)
    # conv biases (squeeze-excitation) zero in both, BatchNorm at its defaults
    for convs in (_convs(ours), _convs(theirs)):
        biases = [c.bias for c in convs if c.bias is not None]
        assert len(biases) == 16 and all(torch.count_nonzero(b) == 0 for b in biases)
    for module in (ours, theirs):
        norms = [m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        assert all(torch.all(m.weight == 1) and torch.all(m.bias == 0) for m in norms)


def test_default_init_keeps_the_classifiers_kaiming():
    torch.manual_seed(0)
    backbone = build_backbone(_cfg("ssdlite320_mnv3_coco.yaml", "MODEL.BACKBONE.INIT", "default"))
    stds = torch.tensor([s for _, s in _stats(backbone.features)])
    # torchvision MobileNetV3: kaiming_normal_(fan_out), std sqrt(2 / (k * k * C_out)); dense 1x1
    # convs of 960 outputs: sqrt(2 / 960) = 0.046; 3x3 stem conv: sqrt(2 / 144) = 0.118
    assert stds.median().item() > 0.05
    first = backbone.features[0][0].weight
    assert abs(first.std().item() - (2 / (9 * 16)) ** 0.5) < 0.02


@pytest.mark.parametrize("name, init", [
    ("ssdlite320_mnv3_coco.yaml", "normal"),  # torchvision's recipe, from scratch
    ("ssdlite320_mnv3small_coco.yaml", "normal"),  # the same recipe, from scratch
    ("ssdlite320_mnv2_coco.yaml", "default"),  # ImageNet weights: init irrelevant, torchvision's too
    ("ssdlite320_mnv3small_voc0712.yaml", "default"),
])
def test_recipe_configs_follow_their_source(name, init):
    cfg = _cfg(name)
    assert cfg.MODEL.BACKBONE.INIT == init
    assert bool(cfg.MODEL.BACKBONE.WEIGHTS) == (init == "default")
