"""Necks: the SSD / SSDLite extra layers (and later FPN), registered in ``NECKS``."""

from . import extras  # noqa: F401  (registration)
