"""Deployment: ONNX export with the postprocess in the graph, the ONNX Runtime backend, int8
quantisation and the PyTorch CPU fast path."""

from .onnx import DETECTION_OUTPUTS, METADATA_KEYS, NETWORK_OUTPUTS, export_detector, export_network
from .runtime import OnnxRuntimeDetector

__all__ = ["DETECTION_OUTPUTS", "METADATA_KEYS", "NETWORK_OUTPUTS", "OnnxRuntimeDetector", "export_detector",
           "export_network"]
