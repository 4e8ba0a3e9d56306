"""The single-shot detector: normalise -> backbone -> neck -> box head."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class InputNormalizer(nn.Module):
    """``Tensor[B, 3, H, W]`` RGB pixels 0-255 (uint8 or float) -> ``(x * range / 255 - mean) / std``.

    ``pixel_range`` says which scale ``mean`` and ``std`` refer to: 255 (Caffe / lufficc: mean
    subtraction on 0-255 pixels) or 1 (torchvision: 0-1 images). Keeping this inside the model
    makes training, evaluation, the demo and exported models agree.
    """

    def __init__(self, *, mean: Sequence[float], std: Sequence[float], pixel_range: float = 255.0) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        # A divisor, not a factor: x / 255 is what torchvision's ToTensor computes, bit for bit
        # (x * (1 / 255) differs by an ulp, which converted torchvision models would amplify).
        self.divisor = 255.0 / pixel_range

    def forward(self, images: Tensor) -> Tensor:
        x = images.float()
        if self.divisor != 1.0:
            x = x / self.divisor
        return (x - self.mean) / self.std


class SSDDetector(nn.Module):
    """SSD / SSDLite.

    ``forward(images, targets=None)``: ``images`` ``Tensor[B, 3, S, S]`` RGB 0-255 (uint8 or float),
    ``S = image_size``. Training needs ``targets`` (per image ``{"boxes": Tensor[N, 4] xyxy input
    pixels, "labels": Tensor[N] int64}``) and returns ``{"loss_box", "loss_cls"}``; eval returns per
    image ``{"boxes": Tensor[D, 4] xyxy input pixels, "scores": Tensor[D], "labels": Tensor[D]}``.
    """

    def __init__(
        self, *, normalizer: InputNormalizer, backbone: nn.Module, neck: nn.Module,
        box_head: nn.Module, image_size: int,
    ) -> None:
        super().__init__()
        self.normalizer = normalizer
        self.backbone = backbone
        self.neck = neck
        self.box_head = box_head
        self.image_size = image_size

    def per_class_parameters(self) -> dict[str, int]:
        """``{state-dict name: boxes per location}`` of the tensors laid out per class (channel
        ``a * K + k``), as the box predictor declares them (``{}`` when it declares none)."""
        predictor = getattr(self.box_head, "predictor", None)
        declared = getattr(predictor, "per_class_parameters", None)
        return {f"box_head.predictor.{k}": v for k, v in declared().items()} if declared else {}

    def features(self, images: Tensor) -> list[Tensor]:
        """Feature maps of every head level, ``[Tensor[B, C_k, H_k, W_k]]``."""
        return self.neck(self.backbone(self.normalizer(images)))

    def forward(self, images: Tensor, targets: list[dict[str, Tensor]] | None = None):
        if images.dim() != 4 or images.shape[1] != 3 or tuple(images.shape[-2:]) != (self.image_size,) * 2:
            raise ValueError(
                f"expected images of shape [B, 3, {self.image_size}, {self.image_size}], "
                f"got {list(images.shape)}"
            )
        return self.box_head(self.features(images), targets)
