"""Data: datasets (VOC, COCO, YOLO; custom by config), augmentation, samplers, loaders, synthetic data.

Each format registers one :class:`~ssd.data.formats.DatasetFormat` in :data:`FORMATS`; every
dataset carries ``dataset.format`` (``evaluator_kind`` among others) and
``dataset.label_to_category_id`` (``None`` for VOC).

Box convention at every boundary (details in :mod:`ssd.data.boxes`): xyxy float32 in absolute,
continuous pixels -- a box covering pixel columns ``0..w-1`` fully is ``[0, 0, w, h]``; VOC's
1-based ``xmin..xmax`` becomes ``x1 = xmin - 1, x2 = xmax``. Labels are int64 ``1..K``, 0 is
background. ``ssd.data`` never imports ``ssd.modeling``: matching happens in the model's loss.

Loader batches are ``(images, targets, infos)``: ``images`` uint8 ``Tensor[B, 3, S, S]`` RGB (float32
0-255 for the ``lufficc`` augmentation, and at test time for ``INPUT.RESIZE_MODE: tf_bilinear``),
``targets[i] = {"boxes": float32 Tensor[N, 4] xyxy in input pixels, "labels": int64 Tensor[N]}``,
``infos[i] = {"index", "image_id", "file_name", "height", "width"}`` with the original image size.
"""

from .benchmark import measure_pipeline_throughput, samples_from_dataset
from .boxes import coco_xywh_to_xyxy, sanitize_boxes, voc_to_xyxy
from .build import (
    build_dataset,
    build_test_loader,
    build_train_dataset,
    build_train_loader,
    build_transform,
    class_names_for,
    resolve_num_classes,
)
from .catalog import BUILTIN_DATASETS, load_class_names, resolve_dataset
from .collate import collate_detection
from .datasets import (
    VOC_CLASSES,
    COCODataset,
    ConcatDetectionDataset,
    DetectionDataset,
    VOCDataset,
    YOLODataset,
)
from .formats import FORMATS, DatasetFormat
from .image_io import CorruptImageError, read_image, read_image_size
from .samplers import IterationBatchSampler, ShardSampler

__all__ = [
    "BUILTIN_DATASETS",
    "COCODataset",
    "ConcatDetectionDataset",
    "CorruptImageError",
    "DatasetFormat",
    "DetectionDataset",
    "FORMATS",
    "IterationBatchSampler",
    "ShardSampler",
    "VOCDataset",
    "VOC_CLASSES",
    "YOLODataset",
    "build_dataset",
    "build_test_loader",
    "build_train_dataset",
    "build_train_loader",
    "build_transform",
    "class_names_for",
    "coco_xywh_to_xyxy",
    "collate_detection",
    "load_class_names",
    "measure_pipeline_throughput",
    "read_image",
    "read_image_size",
    "samples_from_dataset",
    "resolve_dataset",
    "resolve_num_classes",
    "sanitize_boxes",
    "voc_to_xyxy",
]
