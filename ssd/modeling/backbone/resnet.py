"""ResNet-50 for SSD300 in the style of NVIDIA's DeepLearningExamples SSD (PyTorch/Detection/SSD),
itself after "Speed/accuracy trade-offs for modern convolutional object detectors" (Huang et al.
2017, §3.6.3): the network up to conv4_x (``layer3``), with the stride of conv4_x's first block
removed so that the map stays at stride 8 (38 x 38 for 300 px) with 1024 channels; conv5_x and the
classifier are dropped.

Built from ``torchvision.models.resnet50`` (parameter names ``conv1``, ``bn1``, ``layer1-3`` are
torchvision's, so its ImageNet weights load as they are).
"""

from __future__ import annotations

from functools import partial

from torch import Tensor, nn
from torchvision.models import resnet50

from ..registry import BACKBONES
from .base import Backbone, ShapeSpec
from .taps import out_channels_of


class ResNet50Backbone(Backbone):
    """``forward(Tensor[B, 3, H, W]) -> [Tensor[B, 1024, H/8, W/8]]`` (size rounded up)."""

    def __init__(self, *, norm_eps: float = 1e-5, norm_momentum: float = 0.1) -> None:
        super().__init__()
        net = resnet50(weights=None, norm_layer=partial(nn.BatchNorm2d, eps=norm_eps, momentum=norm_momentum))
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3 = net.layer1, net.layer2, net.layer3
        # conv4_x keeps the resolution: its first block's 3x3 conv and projection shortcut get stride 1
        first = self.layer3[0]
        first.conv2.stride = (1, 1)
        first.downsample[0].stride = (1, 1)

    def output_shape(self) -> list[ShapeSpec]:
        # conv1 /2, maxpool /2, layer2 /2; layer3 no longer halves
        return [ShapeSpec(out_channels_of(self.layer3), 8)]

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return [self.layer3(self.layer2(self.layer1(x)))]

    def adapt_pretrained(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """torchvision classification weights: drop conv5_x (``layer4``) and the classifier."""
        return {k: v for k, v in state_dict.items() if not k.startswith(("layer4.", "fc."))}


@BACKBONES.register("resnet50")
def build_resnet50(cfg) -> ResNet50Backbone:
    b = cfg.MODEL.BACKBONE
    if list(b.OUT_STRIDES) not in ([], [8]):
        raise ValueError(f"MODEL.BACKBONE.OUT_STRIDES = {list(b.OUT_STRIDES)}: resnet50 returns only stride 8")
    return ResNet50Backbone(norm_eps=cfg.MODEL.NORM_EPS, norm_momentum=cfg.MODEL.NORM_MOMENTUM)
