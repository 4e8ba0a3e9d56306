"""Weights from other SSD implementations (torchvision, lufficc/SSD) as this framework's
checkpoints: key mapping as pure functions over state dicts, class layouts carried over."""

from ..utils.state_dict import strip_prefix
from .classes import VOC_CLASS_NAMES, ClassLayout, coco80_layout, torchvision_coco_layout, voc_layout
from .convert import SOURCES, class_layout, convert_weights, converted_checkpoint, head_num_classes, source_rename
from .from_lufficc import lufficc_layout
from .mapping import Conversion, remap_state_dict

__all__ = [
    "SOURCES", "VOC_CLASS_NAMES", "ClassLayout", "Conversion", "class_layout", "coco80_layout",
    "converted_checkpoint", "convert_weights", "head_num_classes", "lufficc_layout", "remap_state_dict",
    "source_rename", "strip_prefix", "torchvision_coco_layout", "voc_layout",
]
