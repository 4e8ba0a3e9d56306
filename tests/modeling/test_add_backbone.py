"""The README's recipe for adding a backbone, exercised end to end."""

import os

import torch
from torch import nn
from torchvision.models import resnet18
from torchvision.models.feature_extraction import create_feature_extractor

from ssd.config import load_config
from ssd.modeling import BACKBONES, build_model
from ssd.modeling.weights import load_backbone_weights

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class ResNet18Backbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = create_feature_extractor(resnet18(weights=None), {"layer3": "c4", "layer4": "c5"})
        self.out_channels = [256, 512]
        self.strides = [16, 32]

    def forward(self, x):
        return list(self.body(x).values())


if "test_resnet18" not in BACKBONES:
    @BACKBONES.register("test_resnet18")
    def build_resnet18(cfg) -> ResNet18Backbone:
        backbone = ResNet18Backbone()
        load_backbone_weights(backbone, cfg.MODEL.BACKBONE.WEIGHTS)
        return backbone


def test_a_new_backbone_is_a_builder_and_a_yaml(tmp_path):
    base = os.path.join(ROOT, "configs", "_base_", "ssdlite320_mnv3.yaml")
    cfg_path = tmp_path / "ssdlite320_resnet18.yaml"
    cfg_path.write_text(f"_BASE_: {base}\nMODEL:\n  NUM_CLASSES: 5\n  BACKBONE:\n    NAME: test_resnet18\n")
    model = build_model(load_config(str(cfg_path)))
    assert model.neck.out_channels == [256, 512, 512, 256, 256, 128]
    assert model.box_head.priors.shape == (3234, 4)  # same map sizes as MobileNetV3 at 320
    target = {"boxes": torch.tensor([[10.0, 20.0, 200.0, 220.0]]), "labels": torch.tensor([3])}
    # batch of 2: BatchNorm in training needs more than one value per channel on the 1x1 level
    losses = model(torch.zeros(2, 3, 320, 320, dtype=torch.uint8), [target, target])
    assert torch.isfinite(sum(losses.values()))
