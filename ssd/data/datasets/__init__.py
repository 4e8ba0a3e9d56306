"""Dataset formats (VOC, COCO, YOLO) and their concatenation.

Each format module registers its :class:`~ssd.data.formats.DatasetFormat` when imported; the
imports below fix the registration order.
"""

from ..formats import FORMATS, DatasetFormat
from .base import DetectionDataset, ImageRecord
from .coco import (
    COCODataset,
    check_coco_dict,
    coco_category_names,
    coco_class_names,
    coco_dict_from_records,
    coco_from_dict,
    load_coco,
)
from .concat import ConcatDetectionDataset
from .voc import VOC_CLASSES, VOCDataset, parse_voc_xml
from .yolo import YOLODataset, parse_yolo_labels

__all__ = [
    "COCODataset",
    "ConcatDetectionDataset",
    "DatasetFormat",
    "DetectionDataset",
    "FORMATS",
    "ImageRecord",
    "VOCDataset",
    "VOC_CLASSES",
    "YOLODataset",
    "check_coco_dict",
    "coco_category_names",
    "coco_class_names",
    "coco_dict_from_records",
    "coco_from_dict",
    "load_coco",
    "parse_voc_xml",
    "parse_yolo_labels",
]
