"""Single-image prediction for the demo (drawing: :func:`ssd.visualization.draw.draw_detections`).

Test-time transform: ``cv2.resize`` of the BGR image to ``S x S`` (no aspect-ratio padding),
BGR -> RGB, uint8 ``Tensor[1, 3, S, S]``; the model normalises internally. Boxes come back in
original pixels, xyxy.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from ..visualization.draw import draw_detections  # noqa: F401  (re-exported: tools import it from here)
from .inference import rescale_boxes


def preprocess(bgr: np.ndarray, *, size: int) -> Tensor:
    """``uint8 [H, W, 3]`` BGR -> ``uint8 Tensor[1, 3, size, size]`` RGB."""
    if bgr.ndim != 3 or bgr.shape[2] != 3:
        raise ValueError(f"expected a BGR image [H, W, 3], got shape {bgr.shape}")
    rgb = cv2.cvtColor(cv2.resize(bgr, (size, size), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]


class Predictor:
    """``predictor(bgr) -> {"boxes" [K, 4] xyxy original pixels, "scores" [K], "labels" [K]}``
    (CPU tensors, scores at least ``score_threshold``)."""

    def __init__(self, *, model: nn.Module, image_size: int, device: torch.device, score_threshold: float = 0.0):
        self.model = model.eval().to(device)
        self.image_size = image_size
        self.device = device
        self.score_threshold = score_threshold

    @torch.no_grad()
    def __call__(self, bgr: np.ndarray) -> dict[str, Tensor]:
        height, width = bgr.shape[:2]
        out = self.model(preprocess(bgr, size=self.image_size).to(self.device))[0]
        keep = out["scores"] >= self.score_threshold
        boxes = rescale_boxes(out["boxes"][keep].float().cpu(), input_size=self.image_size, height=height, width=width)
        return {"boxes": boxes, "scores": out["scores"][keep].float().cpu(), "labels": out["labels"][keep].cpu()}
