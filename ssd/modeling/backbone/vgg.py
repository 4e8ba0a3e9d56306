"""VGG16 reduced to a detection backbone, as in the SSD paper (Liu et al. 2016, §3 and Fig. 2).

Built from torchvision's VGG16 layer list (``torchvision.models.vgg.make_layers(cfgs["D"])``, the
``features`` of ``vgg16()`` without its 120M-parameter classifier; parameter names ``features.N`` are
torchvision's, so its ImageNet weights load as they are), with the SSD changes:

- pool3 uses ``ceil_mode`` so a 300 px input gives a 38x38 conv4_3 map;
- pool5 becomes 3x3 stride 1 and fc6 / fc7 become a 3x3 conv with dilation 6 and a 1x1 conv
  (the "atrous" reduced fc layers, §3 "Base network");
- conv4_3 is L2-normalised with a learnable per-channel scale initialised to 20 (§3, ParseNet).

Outputs conv4_3 (512 channels, stride 8) and fc7 (1024 channels, stride 16).

Pretrained weights (``MODEL.BACKBONE.WEIGHTS``), both giving every tensor but the L2Norm scale:

- the reduced-fc VGG16 of Caffe SSD (``VGG_ILSVRC_16_layers_fc_reduced``) as lufficc/SSD loads it,
  amdegroot's port :data:`REDUCED_FC_URL` (keys ``N.weight``, fc6 at 31 and fc7 at 33). It expects
  RGB 0-255 pixels minus [123, 117, 104] (Caffe's BGR mean [104, 117, 123]), std 1: torchvision's
  port of the same features, ``VGG16_Weights.IMAGENET1K_FEATURES``, documents exactly that
  (mean (0.48235, 0.45882, 0.40784) x 255, std 1/255). That torchvision port has no usable
  classifier, hence no fc6 / fc7: on its own it leaves them untrained.
- torchvision's ImageNet classifier ``VGG16_Weights.IMAGENET1K_V1``, whose fc6 / fc7 are reduced
  here by the paper's subsampling (:func:`subsample_fc`). It expects RGB 0-1 pixels normalised by
  mean [0.485, 0.456, 0.406] and std [0.229, 0.224, 0.225].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.vgg import cfgs, make_layers

from ..registry import BACKBONES
from .base import Backbone, ShapeSpec

# Index of relu4_3 and of the last layer kept (relu5_3) in torchvision's vgg16().features.
_CONV4_3_RELU = 22
_RELU5_3 = 29
_POOL3 = 16
# Indices of fc6 / fc7 in the reduced-fc file (amdegroot's nn.ModuleList: pool5 30, fc6 31, relu 32, fc7 33).
_REDUCED_FC6, _REDUCED_FC7 = 31, 33

#: The reduced-fc VGG16 that lufficc/SSD starts from (``ssd/modeling/backbone/vgg.py`` there).
REDUCED_FC_URL = "https://s3.amazonaws.com/amdegroot-models/vgg16_reducedfc.pth"


def subsample_fc(
    fc6_weight: Tensor, fc6_bias: Tensor, fc7_weight: Tensor, fc7_bias: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The ImageNet classifier's fc6 / fc7 reduced to SSD's atrous fc6 / fc7 (Liu et al. 2016, §3
    "Base network", after DeepLab-LargeFOV).

    fc6 ``Tensor[4096, 25088]`` is viewed as the 7x7 conv it is, ``Tensor[4096, 512, 7, 7]``; every
    4th output channel and every 3rd spatial tap (rows and columns 0, 3, 6) give
    ``Tensor[1024, 512, 3, 3]``, used with dilation 6: pool5 no longer halves the resolution, so the
    3 taps span 13 cells of the stride-16 map, about the 7 cells of stride 32 the 7x7 fc6 saw.
    fc7 ``Tensor[4096, 4096]`` keeps every 4th row and column: ``Tensor[1024, 1024, 1, 1]``.
    Biases keep every 4th entry: ``Tensor[1024]`` each.
    """
    if tuple(fc6_weight.shape) != (4096, 512 * 7 * 7) or tuple(fc7_weight.shape) != (4096, 4096):
        raise ValueError(
            f"expected VGG16 classifier fc6 (4096, 25088) and fc7 (4096, 4096), got "
            f"{tuple(fc6_weight.shape)} and {tuple(fc7_weight.shape)}"
        )
    fc6 = fc6_weight.view(4096, 512, 7, 7)[::4, :, ::3, ::3].contiguous()
    fc7 = fc7_weight[::4, ::4].contiguous().view(1024, 1024, 1, 1)
    return fc6, fc6_bias[::4].contiguous(), fc7, fc7_bias[::4].contiguous()


class L2Norm(nn.Module):
    """Channel-wise L2 normalisation with a learnable per-channel scale (ParseNet, SSD §3)."""

    def __init__(self, channels: int, *, scale: float = 20.0, eps: float = 1e-10) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.full((channels,), scale))

    def forward(self, x: Tensor) -> Tensor:
        """``Tensor[B, C, H, W]`` -> same shape, each position's channel vector of norm ``weight``."""
        return F.normalize(x, dim=1, eps=self.eps) * self.weight.view(1, -1, 1, 1)


class VGG16Backbone(Backbone):
    """VGG16 for SSD: ``forward(Tensor[B, 3, H, W]) -> [conv4_3 Tensor[B, 512, H/8, W/8],
    fc7 Tensor[B, 1024, H/16, W/16]]`` (sizes rounded up: 300 -> 38, 19)."""

    new_layers = ("l2_norm.",)  # the conv4_3 scale is SSD's own (initialised to 20, §3)

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

    def output_shape(self) -> list[ShapeSpec]:
        return [ShapeSpec(512, 8), ShapeSpec(1024, 16)]

    def forward(self, x: Tensor) -> list[Tensor]:
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i == _CONV4_3_RELU:
                conv4_3 = self.l2_norm(x)
        x = self.pool5(x)
        x = F.relu(self.fc6(x), inplace=True)
        fc7 = F.relu(self.fc7(x), inplace=True)
        return [conv4_3, fc7]

    def adapt_pretrained(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """Accept the reduced-fc VGG16 of Caffe SSD / lufficc (``N.weight``, fc6 at 31, fc7 at 33)
        and torchvision's VGG16 classifier (``features.N``; ``classifier.0`` / ``classifier.3``
        subsampled into fc6 / fc7 by :func:`subsample_fc`, the rest of the classifier dropped)."""
        renamed = {}
        for key, value in state_dict.items():
            if key.startswith("classifier."):
                continue
            index, _, rest = key.removeprefix("features.").partition(".")
            if not index.isdigit():
                renamed[key] = value
            elif int(index) <= _RELU5_3:
                renamed[f"features.{index}.{rest}"] = value
            elif int(index) in (_REDUCED_FC6, _REDUCED_FC7):
                renamed[f"{'fc6' if int(index) == _REDUCED_FC6 else 'fc7'}.{rest}"] = value
            else:
                renamed[key] = value
        classifier = [f"classifier.{i}.{p}" for i in (0, 3) for p in ("weight", "bias")]
        if all(k in state_dict for k in classifier):
            reduced = subsample_fc(*(state_dict[k] for k in classifier))
            renamed.update(zip(("fc6.weight", "fc6.bias", "fc7.weight", "fc7.bias"), reduced, strict=True))
        return renamed


@BACKBONES.register("vgg16")
def build_vgg16(cfg) -> VGG16Backbone:
    return VGG16Backbone()
