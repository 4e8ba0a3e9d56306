"""A trained model's life: the :class:`Checkpointer` that writes a run's checkpoints and starts it
(resumed, or from another run's or a converted checkpoint), and the one path from a checkpoint to a
detector (:func:`load_detector`)."""

from .checkpointer import Checkpointer
from .loading import LoadedDetector, checkpoint_class_names, checkpoint_layout, load_detector
from .pretrained import TRANSFER_REPORT, load_pretrained_weights

__all__ = ["TRANSFER_REPORT", "Checkpointer", "LoadedDetector", "checkpoint_class_names", "checkpoint_layout",
           "load_detector", "load_pretrained_weights"]
