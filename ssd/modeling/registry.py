"""Registries of the parts a config chooses by name.

Each entry is a *builder*: the only place that reads the config. It maps config keys onto the
keyword-only arguments of a plain, typed ``nn.Module`` (or loss object), so every component can
also be built and tested without a config.

- ``BACKBONES``:  ``builder(cfg) -> Backbone`` (``ssd.modeling.backbone.base``: declared output shapes and
  weight adapter; weights are loaded by ``build_backbone``, not by the builder)
- ``NECKS``:      ``builder(cfg, in_channels: list[int]) -> nn.Module`` with ``out_channels``
- ``PREDICTORS``: ``builder(cfg, *, in_channels, boxes_per_location, num_classes, cls_bias_prior) -> nn.Module``
  (``cls_bias_prior`` is the built loss's, see below)
- ``LOSSES``:     ``builder(cfg) -> ssd.modeling.loss.DetectionLoss``: callable as
  ``(cls_logits, box_deltas, labels, target_deltas) -> dict`` and declaring ``score_activation`` and
  ``cls_bias_prior``, which the model builder hands to postprocess and to the predictor
"""

from ssd.utils.registry import Registry

BACKBONES = Registry("backbone")
NECKS = Registry("neck")
PREDICTORS = Registry("box predictor")
LOSSES = Registry("loss")
