"""Necks: the SSD / SSDLite extra layers and the FPN, registered in ``NECKS``."""

from . import extras, fpn, lufficc_extras, sandglass_extras  # noqa: F401  (registration)
