"""A trained model's life: the one path from a checkpoint to a detector, and starting a run from
another run's (or a converted) checkpoint."""

from .loading import LoadedDetector, checkpoint_class_names, checkpoint_layout, load_detector
from .pretrained import TRANSFER_REPORT, load_pretrained_weights

__all__ = ["TRANSFER_REPORT", "LoadedDetector", "checkpoint_class_names", "checkpoint_layout", "load_detector",
           "load_pretrained_weights"]
