"""Augmentation: Caffe-faithful SSD (default), lufficc and SSDLite variants, and test-time resize."""

from .geometry import CAFFE_SAMPLERS, BatchSampler, sample_caffe_crop
from .pipelines import (
    TRAIN_PIPELINES,
    CaffeTrainTransform,
    LufficcTrainTransform,
    ResizeTransform,
    SSDLiteTrainTransform,
)

__all__ = [
    "CAFFE_SAMPLERS",
    "BatchSampler",
    "CaffeTrainTransform",
    "LufficcTrainTransform",
    "ResizeTransform",
    "SSDLiteTrainTransform",
    "TRAIN_PIPELINES",
    "sample_caffe_crop",
]
