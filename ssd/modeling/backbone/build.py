"""``build_backbone(cfg)``: the registered builder, the contract check and the pretrained weights."""

from __future__ import annotations

from ..init import init_conv_weights
from ..registry import BACKBONES
from ..weights import load_backbone_weights
from .base import Backbone


def build_backbone(cfg) -> Backbone:
    """The backbone ``MODEL.BACKBONE.NAME`` names, re-initialised as ``MODEL.BACKBONE.INIT`` says
    (``"normal"``: every conv N(0, 0.03), biases 0, as torchvision's ``ssdlite320_mobilenet_v3_large``
    does to its backbone without ImageNet weights), then ``MODEL.BACKBONE.WEIGHTS`` loaded through its
    ``adapt_pretrained``.

    Raises ``ValueError`` when the registered builder returns something that is not a
    :class:`Backbone`, when its maps are not at ``MODEL.BACKBONE.OUT_STRIDES`` (where given), and
    when the weights leave backbone tensors untrained (unless ``MODEL.BACKBONE.ALLOW_PARTIAL_WEIGHTS``).
    """
    b = cfg.MODEL.BACKBONE
    backbone = BACKBONES.get(b.NAME)(cfg)
    if not isinstance(backbone, Backbone):
        raise ValueError(
            f"backbone {b.NAME!r}: its registered builder returned a {type(backbone).__name__}, not a "
            "ssd.modeling.backbone.Backbone (derive from it and declare output_shape())"
        )
    wanted_strides = list(b.OUT_STRIDES)
    if wanted_strides and wanted_strides != backbone.strides:
        raise ValueError(
            f"MODEL.BACKBONE.OUT_STRIDES = {wanted_strides} but {b.NAME} returns maps at strides {backbone.strides}"
        )
    if b.INIT == "normal":
        init_conv_weights(backbone, "normal")
    load_backbone_weights(backbone, b.WEIGHTS, allow_partial=b.ALLOW_PARTIAL_WEIGHTS)
    return backbone
