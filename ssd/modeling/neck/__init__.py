"""Necks: the SSD / SSDLite extra layers and the FPN, registered in ``NECKS``."""

from . import extras, fpn  # noqa: F401  (registration)
