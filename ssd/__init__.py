"""ssd: config-driven SSD / SSDLite object detection."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # ``from ssd import Predictor`` without importing torch for ``import ssd.config``
    if name == "Predictor":
        from .engine.predictor import Predictor

        return Predictor
    raise AttributeError(f"module 'ssd' has no attribute {name!r}")
