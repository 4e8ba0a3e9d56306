"""VGG16 reduced to a detection backbone, as in the SSD paper (Liu et al. 2016, §3 and Fig. 2).

Built from torchvision's VGG16 layer list (``torchvision.models.vgg.make_layers(cfgs["D"])``, the
``features`` of ``vgg16()`` without its 120M-parameter classifier; parameter names ``features.N`` are
torchvision's, so its ImageNet weights load as they are), with the SSD changes:

- pool3 uses ``ceil_mode`` so a 300 px input gives a 38x38 conv4_3 map;
- pool5 becomes 3x3 stride 1 and fc6 / fc7 become a 3x3 conv with dilation 6 and a 1x1 conv
  (the "atrous" reduced fc layers, §3 "Base network");
- conv4_3 is L2-normalised with a learnable per-channel scale initialised to 20 (§3, ParseNet).

Outputs conv4_3 (512 channels, stride 8) and fc7 (1024 channels, stride 16).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.vgg import cfgs, make_layers

from ..registry import BACKBONES
from ..weights import load_backbone_weights

# Index of relu4_3 and of the last layer kept (relu5_3) in torchvision's vgg16().features.
_CONV4_3_RELU = 22
_RELU5_3 = 29
_POOL3 = 16


class L2Norm(nn.Module):
    """Channel-wise L2 normalisation with a learnable per-channel scale (ParseNet, SSD §3)."""

    def __init__(self, channels: int, *, scale: float = 20.0, eps: float = 1e-10) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.full((channels,), scale))

    def forward(self, x: Tensor) -> Tensor:
        """``Tensor[B, C, H, W]`` -> same shape, each position's channel vector of norm ``weight``."""
        return F.normalize(x, dim=1, eps=self.eps) * self.weight.view(1, -1, 1, 1)


class VGG16Backbone(nn.Module):
    """VGG16 for SSD: ``forward(Tensor[B, 3, H, W]) -> [conv4_3 Tensor[B, 512, H/8, W/8],
    fc7 Tensor[B, 1024, H/16, W/16]]`` (sizes rounded up: 300 -> 38, 19)."""

    def __init__(self) -> None:
        super().__init__()
        features = make_layers(cfgs["D"])[: _RELU5_3 + 1]
        features[_POOL3].ceil_mode = True
        for m in features.modules():  # torchvision VGG's own initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        self.features = features
        self.l2_norm = L2Norm(512)
        self.pool5 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.fc6 = nn.Conv2d(512, 1024, kernel_size=3, padding=6, dilation=6)
        self.fc7 = nn.Conv2d(1024, 1024, kernel_size=1)
        for conv in (self.fc6, self.fc7):
            nn.init.xavier_uniform_(conv.weight)
            nn.init.zeros_(conv.bias)
        self.out_channels = [512, 1024]
        self.strides = [8, 16]

    def forward(self, x: Tensor) -> list[Tensor]:
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i == _CONV4_3_RELU:
                conv4_3 = self.l2_norm(x)
        x = self.pool5(x)
        x = F.relu(self.fc6(x), inplace=True)
        fc7 = F.relu(self.fc7(x), inplace=True)
        return [conv4_3, fc7]

    @staticmethod
    def adapt_pretrained(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """Accept torchvision VGG16 weights (``features.N``, ``classifier.*`` dropped) and the
        reduced-fc VGG16 of Caffe SSD / lufficc (``N.weight``, fc6 at 31 and fc7 at 33)."""
        renamed = {}
        for key, value in state_dict.items():
            if key.startswith("classifier."):
                continue
            index, _, rest = key.removeprefix("features.").partition(".")
            if not index.isdigit():
                renamed[key] = value
            elif int(index) <= _RELU5_3:
                renamed[f"features.{index}.{rest}"] = value
            elif int(index) in (31, 33):
                renamed[f"{'fc6' if index == '31' else 'fc7'}.{rest}"] = value
            else:
                renamed[key] = value
        return renamed


@BACKBONES.register("vgg16")
def build_vgg16(cfg) -> VGG16Backbone:
    backbone = VGG16Backbone()
    load_backbone_weights(backbone, cfg.MODEL.BACKBONE.WEIGHTS)
    return backbone
