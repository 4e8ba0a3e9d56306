"""torchvision's ``ssd300_vgg16`` and ``ssdlite320_mobilenet_v3_large`` -> this framework.

Both models lay out their default boxes and predictor channels as this framework does (per cell
``[s_k, s'_k, r, 1/r, ...]``, channel ``a * K + k``; see :mod:`ssd.modeling.anchors`), so weights
are only renamed, never reordered; ``tests/convert`` checks the detections numerically.

torchvision's COCO heads have 91 outputs indexed by COCO category id, background at 0 and "N/A"
at the ids COCO does not use. Those slots still enter the softmax, so they are kept: label ``l``
of a converted model *is* category id ``l`` (:func:`~.classes.torchvision_coco_layout`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SSD300_VGG16 = "ssd300_vgg16"
SSDLITE320_MNV3 = "ssdlite320_mobilenet_v3_large"

# torchvision ssd300_vgg16: backbone.extra.0 = (pool4, conv5_1, relu, conv5_2, relu, conv5_3, relu,
# (pool5, fc6, relu, fc7, relu)); the conv5 convs are vgg16().features 24, 26, 28.
_VGG_CONV5_OFFSET = 23
_VGG_FC = {"1": "fc6", "3": "fc7"}

_HEADS = {"classification_head": "cls_heads", "regression_head": "reg_heads"}
_HEAD = re.compile(r"^head\.(classification_head|regression_head)\.module_list\.(\d+)\.(.+)$")


def detect_architecture(keys: Iterable[str]) -> str:
    """``SSD300_VGG16`` or ``SSDLITE320_MNV3`` from a torchvision state dict's keys."""
    keys = set(keys)
    if "backbone.scale_weight" in keys:
        return SSD300_VGG16
    if any(k.startswith("backbone.features.1.0.") for k in keys):
        return SSDLITE320_MNV3
    sample = sorted(keys)[:5]
    raise ValueError(
        f"not a torchvision SSD300-VGG16 or SSDLite320-MobileNetV3 state dict: it has neither "
        f"backbone.scale_weight nor backbone.features.1.0.* (first keys: {sample})"
    )


def _head_key(key: str) -> str | None:
    m = _HEAD.match(key)
    return f"box_head.predictor.{_HEADS[m.group(1)]}.{m.group(2)}.{m.group(3)}" if m else None


def ssd300_vgg16_key(key: str) -> str | None:
    """This framework's name for a key of torchvision's ``ssd300_vgg16`` (``None``: no place)."""
    if key.startswith("head."):
        return _head_key(key)
    if key == "backbone.scale_weight":
        return "backbone.l2_norm.weight"
    if key.startswith("backbone.features."):
        return key  # conv1_1 .. conv4_3 keep torchvision's vgg16().features indices
    parts = key.split(".")
    if len(parts) < 4 or parts[:2] != ["backbone", "extra"] or not parts[2].isdigit():
        return None
    block, rest = int(parts[2]), parts[3:]
    if block > 0:  # SSD extra levels: (conv1x1, relu, conv, relu) as in this framework's neck
        return ".".join(["neck", "blocks", str(block - 1), *rest])
    if rest[0] == "7" and len(rest) == 3 and rest[1] in _VGG_FC:
        return f"backbone.{_VGG_FC[rest[1]]}.{rest[2]}"
    if rest[0].isdigit() and len(rest) == 2:
        return f"backbone.features.{int(rest[0]) + _VGG_CONV5_OFFSET}.{rest[1]}"
    return None


def c4_position(keys: Iterable[str]) -> int:
    """Index of the C4 block in ``mobilenet_v3_large().features``: torchvision's SSDLite backbone
    ends its first stage (``backbone.features.0``) with that block's expansion conv."""
    indices = [int(k.split(".")[3]) for k in keys if re.match(r"^backbone\.features\.0\.\d+\.", k)]
    if not indices:
        raise ValueError("no backbone.features.0.<i>.* keys: not a torchvision SSDLite state dict")
    return max(indices)


def ssdlite320_key(key: str, *, c4: int) -> str | None:
    """This framework's name for a key of torchvision's ``ssdlite320_mobilenet_v3_large``.

    torchvision splits ``mobilenet_v3_large().features`` at the C4 expansion conv: stage 0 holds
    blocks ``0..c4-1`` and block ``c4``'s ``block[0]``; stage 1 holds ``block[1:]`` (keeping its
    indices 1, 2, 3) then blocks ``c4+1..``. This framework keeps the unsplit torchvision names.
    """
    if key.startswith("head."):
        return _head_key(key)
    if key.startswith("backbone.extra."):
        return "neck.blocks." + key[len("backbone.extra."):]
    m = re.match(r"^backbone\.features\.([01])\.(\d+)\.(.+)$", key)
    if not m:
        return None
    stage, index, rest = int(m.group(1)), int(m.group(2)), m.group(3)
    if stage == 0:
        if index < c4:
            return f"backbone.features.{index}.{rest}"
        return f"backbone.features.{c4}.block.0.{rest}" if index == c4 else None
    if index == 0:
        return f"backbone.features.{c4}.block.{rest}"
    return f"backbone.features.{c4 + index}.{rest}"


def torchvision_rename(keys: Iterable[str]):
    """The rename rule (``key -> key | None``) for the torchvision model these keys come from."""
    keys = list(keys)
    arch = detect_architecture(keys)
    if arch == SSD300_VGG16:
        return ssd300_vgg16_key
    c4 = c4_position(keys)
    return lambda key: ssdlite320_key(key, c4=c4)
