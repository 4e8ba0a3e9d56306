"""Every config that names pretrained backbone weights starts every backbone tensor from them
(random stand-ins of the real files: tests/modeling/conftest.py)."""

import glob
import logging
import os

import pytest
import torch

from ssd.config import load_config
from ssd.modeling.backbone import build_backbone

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, "configs", "**", "*.yaml"), recursive=True))
WITH_WEIGHTS = [p for p in CONFIGS if load_config(p).MODEL.BACKBONE.WEIGHTS]


def test_the_configs_with_weights_are_the_expected_ones():
    names = sorted(os.path.relpath(p, os.path.join(ROOT, "configs")) for p in WITH_WEIGHTS)
    assert names == [
        "ssd300_effb3_coco.yaml", "ssd300_effb3_voc0712.yaml",
        "ssd300_resnet50_coco.yaml", "ssd300_resnet50_voc0712.yaml",
        "ssd300_vgg16_coco.yaml", "ssd300_vgg16_voc0712.yaml",
        "ssd512_vgg16_coco.yaml", "ssd512_vgg16_voc0712.yaml",
        "ssdlite320_mnext_coco.yaml", "ssdlite320_mnext_fpn_coco.yaml", "ssdlite320_mnext_voc0712.yaml",
        "ssdlite320_mnv2_coco.yaml", "ssdlite320_mnv2_fpn_coco.yaml", "ssdlite320_mnv2_voc0712.yaml",
        "ssdlite320_mnv2lufficc_voc0712.yaml", "ssdlite320_mnv3small_voc0712.yaml",
    ]


@pytest.mark.parametrize("path", WITH_WEIGHTS, ids=lambda p: os.path.relpath(p, ROOT))
def test_no_backbone_tensor_trains_from_scratch(path, standin_weights, caplog):
    spec = load_config(path).MODEL.BACKBONE.WEIGHTS
    local, state = standin_weights(spec)
    cfg = load_config(path, ["MODEL.BACKBONE.WEIGHTS", local])
    with caplog.at_level(logging.INFO, logger="ssd.modeling.weights"):
        backbone = build_backbone(cfg)  # what build_model uses, and leaves as it is
    expected = backbone.adapt_pretrained(state)
    own = {k: v for k, v in backbone.state_dict().items() if not k.endswith("num_batches_tracked")}
    from_file = [k for k in own if not k.startswith(backbone.new_layers)]
    assert set(from_file) <= set(expected)
    for k in from_file:
        torch.testing.assert_close(own[k], expected[k], rtol=0, atol=0, msg=k)
    new = [k for k in own if k.startswith(backbone.new_layers)]
    assert new == (["l2_norm.weight"] if cfg.MODEL.BACKBONE.NAME == "vgg16" else [])
    assert f"initialised {len(from_file)}/{len(own)} backbone tensors" in caplog.text
