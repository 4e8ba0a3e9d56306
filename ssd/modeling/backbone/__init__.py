"""Backbones. Adding one = a module registering a builder in ``BACKBONES`` + an import line here."""

from . import efficientnet, mobilenet_v2, mobilenet_v3, mobilenext, resnet, vgg  # noqa: F401  (registration)
