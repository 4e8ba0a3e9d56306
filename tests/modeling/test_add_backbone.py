"""The README's recipe for adding a backbone, exercised end to end."""

import os

import pytest
import torch
from torch import Tensor, nn
from torchvision.models import resnet18
from torchvision.models.feature_extraction import create_feature_extractor

from ssd.config import load_config
from ssd.modeling import BACKBONES, build_model
from ssd.modeling.backbone import Backbone, ShapeSpec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASE = os.path.join(ROOT, "configs", "_base_", "ssdlite320_mnv3.yaml")


class ResNet18Backbone(Backbone):
    """forward(Tensor[B, 3, H, W]) -> [C4 Tensor[B, 256, H/16, W/16], C5 Tensor[B, 512, H/32, W/32]]"""

    def __init__(self) -> None:
        super().__init__()
        self.body = create_feature_extractor(resnet18(weights=None), {"layer3": "c4", "layer4": "c5"})

    def output_shape(self) -> list[ShapeSpec]:
        return [ShapeSpec(channels=256, stride=16), ShapeSpec(channels=512, stride=32)]

    def forward(self, x: Tensor) -> list[Tensor]:
        return list(self.body(x).values())

    def adapt_pretrained(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        # torchvision's classifier keys (conv1.weight, layer1.0...) live under body.; no fc
        return {f"body.{k}": v for k, v in state_dict.items() if not k.startswith("fc.")}


class NotABackbone(nn.Module):
    out_channels = [256, 512]
    strides = [16, 32]


if "test_resnet18" not in BACKBONES:
    @BACKBONES.register("test_resnet18")
    def build_resnet18(cfg) -> ResNet18Backbone:
        return ResNet18Backbone()


def _yaml(tmp_path, name, weights=""):
    cfg_path = tmp_path / f"ssdlite320_{name}.yaml"
    cfg_path.write_text(f"_BASE_: {BASE}\nMODEL:\n  NUM_CLASSES: 5\n  BACKBONE:\n    NAME: {name}\n"
                        f"    WEIGHTS: '{weights}'\n")
    return str(cfg_path)


def test_a_new_backbone_is_a_builder_and_a_yaml(tmp_path):
    model = build_model(load_config(_yaml(tmp_path, "test_resnet18")))
    assert model.backbone.out_channels == [256, 512] and model.backbone.strides == [16, 32]
    assert model.neck.out_channels == [256, 512, 512, 256, 256, 128]
    assert model.box_head.priors.shape == (3234, 4)  # same map sizes as MobileNetV3 at 320
    target = {"boxes": torch.tensor([[10.0, 20.0, 200.0, 220.0]]), "labels": torch.tensor([3])}
    # batch of 2: BatchNorm in training needs more than one value per channel on the 1x1 level
    losses = model(torch.zeros(2, 3, 320, 320, dtype=torch.uint8), [target, target])
    assert torch.isfinite(sum(losses.values()))


def test_its_pretrained_weights_load_through_the_adapter(tmp_path):
    torch.manual_seed(0)
    classifier = resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(classifier.state_dict(), path)
    model = build_model(load_config(_yaml(tmp_path, "test_resnet18", str(path))))
    own = model.backbone.state_dict()
    torch.testing.assert_close(own["body.layer4.1.conv2.weight"], classifier.layer4[1].conv2.weight, rtol=0, atol=0)


def test_a_builder_that_returns_no_backbone_is_refused(tmp_path, monkeypatch):
    # registered for this test only: the zoo tests run every registered backbone
    monkeypatch.setitem(BACKBONES._items, "test_duck_typed", lambda cfg: NotABackbone())
    with pytest.raises(ValueError, match=r"backbone 'test_duck_typed': its registered builder returned a "
                                         r"NotABackbone, not a ssd\.modeling\.backbone\.Backbone"):
        build_model(load_config(_yaml(tmp_path, "test_duck_typed")))


def test_backbone_and_tapped_backbone_cannot_be_made_without_their_declarations():
    from ssd.modeling.backbone.taps import TappedBackbone

    class NoShapes(Backbone):
        def forward(self, x):
            return [x]

    with pytest.raises(TypeError, match="abstract"):
        NoShapes()
    with pytest.raises(TypeError, match="features"):
        TappedBackbone()  # the features and their tap plan are constructor arguments
