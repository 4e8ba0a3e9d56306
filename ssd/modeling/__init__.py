"""Model side: backbones, necks, box heads, losses, and the builder that assembles them."""

from . import backbone, head, loss, neck  # noqa: F401  (registration, in a fixed order)
from .builder import build_model, build_priors, probe_feature_sizes
from .detector import SSDDetector
from .registry import BACKBONES, LOSSES, NECKS, PREDICTORS

__all__ = [
    "BACKBONES", "LOSSES", "NECKS", "PREDICTORS", "SSDDetector",
    "build_model", "build_priors", "probe_feature_sizes",
]
