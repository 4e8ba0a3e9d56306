"""EfficientNet-B3 feature taps for SSD300 (Tan & Le 2019; taps as EfficientDet §3.3 and lufficc/SSD).

Built from ``torchvision.models.efficientnet_b3().features`` without its last entry, the 1x1 head
conv to 1536 channels that only the classifier uses (parameter names ``features.N`` are
torchvision's, so its ImageNet weights load as they are). The maps are the outputs of the last
stage at each output stride, derived from the network: at strides 8, 16, 32 the stages of 48, 136
and 384 channels (300 px input: 38, 19, 10).

Correspondence with lufficc's checkpoint ``efficient_net_b3_ssd300_voc0712`` (EfficientNet-PyTorch
key names): ``backbone._conv_stem`` / ``_bn0`` = ``features.0.0`` / ``features.0.1``;
``backbone._blocks.N`` = the N-th MBConv counted over ``features.1-7`` (2, 3, 3, 5, 5, 6, 2 blocks),
its ``_expand_conv``, ``_bn0``, ``_depthwise_conv``, ``_bn1``, ``_se_reduce``, ``_se_expand``,
``_project_conv``, ``_bn2`` = ``block.0.0``, ``block.0.1``, ``block.1.0``, ``block.1.1``,
``block.2.fc1``, ``block.2.fc2``, ``block.3.0``, ``block.3.1`` (blocks without expansion start at
``_depthwise_conv`` = ``block.0``); ``backbone.extras`` = the ``ssd_extras`` neck's ``blocks``.
Shapes match one to one, but lufficc's convs use TensorFlow "same" padding (asymmetric on strided
convs) where torchvision pads symmetrically, so its weights give slightly different activations.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from torch import Tensor, nn
from torchvision.models import efficientnet_b3

from ..registry import BACKBONES
from .taps import TappedBackbone


class EfficientNetB3Backbone(TappedBackbone):
    """``forward(Tensor[B, 3, H, W]) -> [Tensor[B, out_channels[k], H / strides[k], W / strides[k]]]``
    (sizes rounded up), by default ``[48 @ H/8, 136 @ H/16, 384 @ H/32]``.

    Args:
        out_strides: output strides of the returned maps, ascending, each in 2, 4, 8, 16, 32.
        norm_eps / norm_momentum: BatchNorm settings (TF EfficientNet: 1e-3 / 0.01).
    """

    def __init__(
        self,
        *,
        out_strides: Sequence[int] = (8, 16, 32),
        norm_eps: float = 1e-3,
        norm_momentum: float = 0.01,
    ) -> None:
        norm_layer = partial(nn.BatchNorm2d, eps=norm_eps, momentum=norm_momentum)
        features = efficientnet_b3(weights=None, norm_layer=norm_layer).features[:-1]  # no 1x1 head conv
        super().__init__(features=features, out_strides=out_strides, mode="output")

    def adapt_pretrained(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """torchvision classification weights: keep ``features.0-7``, drop the head conv
        (``features.8``) and the classifier."""
        return {
            k: v for k, v in state_dict.items()
            if not k.startswith("classifier.") and not k.startswith("features.8.")
        }


@BACKBONES.register("efficientnet_b3")
def build_efficientnet_b3(cfg) -> EfficientNetB3Backbone:
    return EfficientNetB3Backbone(
        out_strides=list(cfg.MODEL.BACKBONE.OUT_STRIDES) or [8, 16, 32],
        norm_eps=cfg.MODEL.NORM_EPS,
        norm_momentum=cfg.MODEL.NORM_MOMENTUM,
    )
