"""A detector from a checkpoint: :func:`ssd.checkpoint.load_detector` (kept importable here)."""

from ..checkpoint.loading import LoadedDetector, load_detector

__all__ = ["LoadedDetector", "load_detector"]
