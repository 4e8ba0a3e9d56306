"""Static facts about a built detector: parameters, default boxes, feature maps, FLOPs."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not; buffers excluded)."""
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_flops(model: nn.Module, image_size: int) -> int:
    """FLOPs of the network (normalisation, backbone, neck, predictor; no postprocess) for one
    ``image_size`` square image, counted by ``torch.utils.flop_counter`` (2 FLOPs per multiply-add,
    convolutions and matrix products only — the convention of papers that quote "MAdds" x 2)."""
    was_training = model.training
    model.eval()
    try:
        x = torch.zeros(1, 3, image_size, image_size)
        counter = FlopCounterMode(display=False)
        with counter:
            model.box_head.predictor(model.features(x))
        return counter.get_total_flops()
    finally:
        model.train(was_training)


@torch.no_grad()
def model_summary(model: nn.Module) -> dict[str, Any]:
    """``params``, ``num_default_boxes``, ``feature_maps`` ([h, w] per level), ``out_channels``,
    ``gflops`` and ``gmacs`` for one image, ``input_size``."""
    size = model.image_size
    was_training = model.training
    model.eval()
    try:
        feats = model.features(torch.zeros(1, 3, size, size))
    finally:
        model.train(was_training)
    flops = count_flops(model, size)
    return {
        "params": count_parameters(model),
        "num_default_boxes": int(model.box_head.priors.shape[0]),
        "feature_maps": [list(f.shape[-2:]) for f in feats],
        "out_channels": [int(f.shape[1]) for f in feats],
        "gflops": round(flops / 1e9, 4),
        "gmacs": round(flops / 2e9, 4),
        "input_size": size,
    }
