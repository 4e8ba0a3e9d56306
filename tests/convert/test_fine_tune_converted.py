"""Fine-tuning from converted checkpoints: torchvision's 91-slot COCO head ("N/A" slots included)
and lufficc's VOC head carry their classes over by name to a model of other classes."""

from __future__ import annotations

import os

import pytest
import torch

from ssd.checkpoint import load_pretrained_weights
from ssd.config import load_config
from ssd.convert import convert_weights
from ssd.modeling import build_model

from .conftest import ROOT, synthetic_state_dict

CASES = {  # fixture, config, input size, this run's classes, class map, expected {target column: source column}
    "torchvision": ("torchvision_ssdlite320_mobilenet_v3_large", "ssdlite320_mnv3_coco_torchvision", 320,
                    ["dog", "pedestrian", "hexagon"], {"pedestrian": "person"}, {0: 0, 1: 18, 2: 1}),
    "lufficc": ("lufficc_mobilenet_v2_ssd320_voc0712", "ssdlite320_mnv2_voc0712_lufficc", 320,
                ["hexagon", "person", "car"], {}, {0: 0, 2: 15, 3: 7}),
}


@pytest.mark.parametrize("source", sorted(CASES))
def test_converted_checkpoint_fine_tunes_to_other_classes(source, tmp_path):
    fixture, config, size, names, class_map, columns = CASES[source]
    weights = tmp_path / "source.pth"
    state = synthetic_state_dict(fixture)
    state = {k: v.abs() + 1 if k.endswith("running_var") else v for k, v in state.items()}  # a real variance
    torch.save(state, weights)
    cfg = load_config(os.path.join(ROOT, "configs", "converted", f"{config}.yaml"), ["MODEL.DEVICE", "cpu"])
    converted, checkpoint = convert_weights(source=source, weights=str(weights), cfg=cfg)
    cfg.defrost()
    cfg.MODEL.NUM_CLASSES = len(names) + 1
    torch.manual_seed(1)
    model = build_model(cfg, num_classes=len(names) + 1)
    report = load_pretrained_weights(model, checkpoint, source=str(weights), class_names=names, class_map=class_map)
    assert report.fresh == ["hexagon"] and not report.mismatched and not report.unused
    image = torch.randint(0, 256, (1, 3, size, size), generator=torch.Generator().manual_seed(0)).float()
    with torch.no_grad():
        before = converted.eval().box_head.predictor(converted.features(image))[0]
        after = model.eval().box_head.predictor(model.features(image))[0]
    target, origin = zip(*sorted(columns.items()), strict=True)
    # equal up to float32 rounding of a conv with another output count (see tests/modeling/test_class_transfer.py)
    torch.testing.assert_close(after[..., list(target)], before[..., list(origin)], rtol=0, atol=1e-5)
