"""ssd: config-driven SSD / SSDLite object detection."""

__version__ = "0.1.0"
