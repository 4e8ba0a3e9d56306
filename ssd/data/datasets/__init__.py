"""Dataset formats (VOC, COCO) and their concatenation."""

from .base import DetectionDataset, ImageRecord
from .coco import COCODataset, coco_class_names, load_coco
from .concat import ConcatDetectionDataset
from .voc import VOC_CLASSES, VOCDataset, parse_voc_xml

__all__ = [
    "COCODataset",
    "ConcatDetectionDataset",
    "DetectionDataset",
    "ImageRecord",
    "VOCDataset",
    "VOC_CLASSES",
    "coco_class_names",
    "load_coco",
    "parse_voc_xml",
]
