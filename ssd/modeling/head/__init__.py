"""Box head: predictors (registered in ``PREDICTORS``) and the head that trains / postprocesses."""

from . import box_predictor, lufficc  # noqa: F401  (registration)
from .box_head import PostprocessSettings, SSDBoxHead, build_targets

__all__ = ["PostprocessSettings", "SSDBoxHead", "build_targets"]
