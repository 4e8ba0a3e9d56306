"""The backbone contract (detectron2's ``Backbone.output_shape()`` / ``ShapeSpec``).

A backbone is an ``nn.Module`` that

- returns a list of feature maps from ``forward(Tensor[B, 3, H, W])``, finest first;
- declares, per returned map, its channels and output stride in :meth:`Backbone.output_shape`
  (``out_channels`` and ``strides`` are read from it, never set by hand); the last map may feed
  the neck only (:attr:`Backbone.neck_input_only`);
- says how a pretrained state dict maps onto its own keys in :meth:`Backbone.adapt_pretrained`,
  and which of its tensors no pretrained classifier provides (:attr:`Backbone.new_layers`).

``ssd.modeling.backbone.build_backbone`` refuses a registered builder that returns anything else,
and loads ``MODEL.BACKBONE.WEIGHTS`` through the adapter.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from dataclasses import dataclass

from torch import Tensor, nn


@dataclass(frozen=True)
class ShapeSpec:
    """One output map: ``channels`` and the output ``stride`` (input side / map side, rounded up)."""

    channels: int
    stride: int


class Backbone(nn.Module, metaclass=ABCMeta):
    """Abstract base of every registered backbone (see the module docstring)."""

    #: State-dict key prefixes of layers the detector adds and initialises itself (SSD's conv4_3
    #: L2Norm scale): no pretrained classifier has them, so loading weights does not count them as
    #: left untrained.
    new_layers: tuple[str, ...] = ()

    #: The last map ``forward`` returns feeds the neck only, not a head level (houqb's MobileNeXt:
    #: the heads see the stride-32 map before the final linear depthwise conv, the extra layers
    #: continue from after it). Only a neck declaring the same attribute accepts such a backbone.
    neck_input_only: bool = False

    @abstractmethod
    def output_shape(self) -> list[ShapeSpec]:
        """Channels and stride of each map ``forward`` returns, in the same order."""

    @abstractmethod
    def forward(self, x: Tensor) -> list[Tensor]:
        """``Tensor[B, 3, H, W] -> [Tensor[B, out_channels[k], ceil(H / strides[k]), ceil(W / strides[k])]]``."""

    @property
    def out_channels(self) -> list[int]:
        return [s.channels for s in self.output_shape()]

    @property
    def strides(self) -> list[int]:
        return [s.stride for s in self.output_shape()]

    def adapt_pretrained(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """A pretrained state dict (a classifier's, a reduced-fc file's) renamed to this module's
        keys; tensors it has no place for may stay (they are reported as unexpected). Default: as is."""
        return dict(state_dict)
