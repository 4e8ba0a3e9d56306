"""lufficc/SSD checkpoints (VGG16 SSD300 / SSD512, VOC and COCO; MobileNetV2 SSDLite320 VOC) -> this
framework.

lufficc's VGG is amdegroot's ``nn.ModuleList``: ``backbone.vgg.N`` uses torchvision's
``vgg16().features`` indices for conv1_1 .. conv5_3 and puts fc6 / fc7 at 31 / 33; its extra layers
are a flat list of convs, two per level (1x1, then the strided conv); its predictors are
``cls_headers`` / ``reg_headers``. Default boxes per cell are ``[s_k, s'_k, r, 1/r, ...]`` and
channel ``a * K + k`` is value ``k`` of box ``a`` (lufficc's ``PriorBox`` and ``BoxPredictor``), the
order of this framework, so weights are renamed and never reordered.

lufficc's MobileNetV2 is torchvision's block for block (``backbone.features.N``), its extras are
inverted residuals (``backbone.extras.N.conv.*``) and its SSDLite heads ``SeperableConv2d``
(``cls_headers.N.conv.K``, the last level a plain conv): the ``mobilenet_v2`` backbone with
``VARIANT: lufficc``, the ``lufficc_mnv2_extras`` neck and the ``lufficc_ssdlite`` predictor of this
framework keep those structures, so only prefixes change.

Class order: label 0 background, VOC labels in lufficc's ``VOCDataset.class_names`` order, COCO
labels 1..80 in increasing category id (see :mod:`ssd.convert.classes`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from .classes import ClassLayout, coco80_layout, voc_layout

# amdegroot/lufficc ``add_vgg`` indices of the reduced fc layers.
_FC = {31: "fc6", 33: "fc7"}
_LAST_VGG_CONV = 28  # conv5_3
_HEADS = {"cls_headers": "cls_heads", "reg_headers": "reg_heads"}


def vgg_key(key: str) -> str | None:
    """This framework's name for a key of a lufficc VGG SSD checkpoint (``None``: no place)."""
    if key == "backbone.l2_norm.weight":
        return key
    m = re.match(r"^backbone\.vgg\.(\d+)\.(weight|bias)$", key)
    if m:
        index, param = int(m.group(1)), m.group(2)
        if index <= _LAST_VGG_CONV:
            return f"backbone.features.{index}.{param}"
        return f"backbone.{_FC[index]}.{param}" if index in _FC else None
    m = re.match(r"^backbone\.extras\.(\d+)\.(weight|bias)$", key)
    if m:
        index, param = int(m.group(1)), m.group(2)
        # Level i = extras 2i (1x1 bottleneck) and 2i+1 (spatial conv): neck.blocks.i.0 / .2.
        return f"neck.blocks.{index // 2}.{2 * (index % 2)}.{param}"
    m = re.match(r"^box_head\.predictor\.(cls_headers|reg_headers)\.(\d+)\.(weight|bias)$", key)
    if m:
        return f"box_head.predictor.{_HEADS[m.group(1)]}.{m.group(2)}.{m.group(3)}"
    return None


def mobilenet_v2_key(key: str) -> str | None:
    """This framework's name for a key of lufficc's MobileNetV2 SSDLite320 (``None``: no place)."""
    if key.startswith("backbone.features."):
        return key
    if key.startswith("backbone.extras."):
        return "neck.blocks." + key[len("backbone.extras."):]
    m = re.match(r"^box_head\.predictor\.(cls_headers|reg_headers)\.(\d+)\.(?:conv\.)?(.+)$", key)
    if m:
        return f"box_head.predictor.{_HEADS[m.group(1)]}.{m.group(2)}.{m.group(3)}"
    return None


def lufficc_rename(keys: Iterable[str]) -> Callable[[str], str | None]:
    """The rename rule for a lufficc checkpoint with these keys: VGG (``backbone.vgg.*``) or
    MobileNetV2 (``backbone.features.*`` and ``backbone.extras.*``)."""
    keys = list(keys)
    if any(k.startswith("backbone.vgg.") for k in keys):
        return vgg_key
    if any(k.startswith("backbone.features.") for k in keys) and any(k.startswith("backbone.extras.") for k in keys):
        return mobilenet_v2_key
    raise ValueError(
        f"not a lufficc VGG or MobileNetV2 checkpoint: no backbone.vgg.*, or no backbone.features.* "
        f"with backbone.extras.* keys "
        f"(first keys: {keys[:5]})"
    )


def lufficc_layout(num_classes: int, class_names: list[str] | None = None) -> ClassLayout:
    """The class layout of a lufficc head with ``num_classes`` outputs (background included):
    ``class_names`` when given (a custom dataset), else VOC for 21 and COCO for 81."""
    if class_names:
        if len(class_names) + 1 != num_classes:
            raise ValueError(
                f"the checkpoint predicts {num_classes} classes (background included) but "
                f"{len(class_names)} class names were given: {class_names}"
            )
        return ClassLayout(class_names=list(class_names))
    if num_classes == 21:
        return voc_layout()
    if num_classes == 81:
        return coco80_layout()
    raise ValueError(
        f"a lufficc head with {num_classes} classes is neither VOC (21) nor COCO (81): "
        "name the classes with DATASETS.CLASSES"
    )
