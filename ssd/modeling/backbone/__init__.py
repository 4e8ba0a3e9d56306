"""Backbones: :class:`Backbone` subclasses, each registered in ``BACKBONES`` by a builder.
Adding one = a module registering a builder + an import line here (README, "Adding a backbone")."""

from . import efficientnet, mobilenet_v2, mobilenet_v3, mobilenext, resnet, vgg  # noqa: F401  (registration)
from .base import Backbone, ShapeSpec
from .build import build_backbone

__all__ = ["Backbone", "ShapeSpec", "build_backbone"]
