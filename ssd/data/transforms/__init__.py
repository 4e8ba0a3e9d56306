"""Augmentation: Caffe-faithful SSD (default), lufficc and SSDLite variants, and test-time resize."""

from .geometry import CAFFE_SAMPLERS, BatchSampler, sample_caffe_crop
from .pipelines import (
    TRAIN_PIPELINES,
    CaffeTrainTransform,
    LufficcTrainTransform,
    ResizeTransform,
    SSDLiteTrainTransform,
)
from .resize import RESIZE_DTYPES, resize_image, resize_tf_bilinear

__all__ = [
    "CAFFE_SAMPLERS",
    "BatchSampler",
    "CaffeTrainTransform",
    "LufficcTrainTransform",
    "RESIZE_DTYPES",
    "ResizeTransform",
    "SSDLiteTrainTransform",
    "TRAIN_PIPELINES",
    "resize_image",
    "resize_tf_bilinear",
    "sample_caffe_crop",
]
