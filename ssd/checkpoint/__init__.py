"""A trained model's life: starting a run from another run's (or a converted) checkpoint."""

from .pretrained import TRANSFER_REPORT, load_pretrained_weights

__all__ = ["TRANSFER_REPORT", "load_pretrained_weights"]
