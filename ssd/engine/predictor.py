"""Single-image prediction and drawing, for the demo.

Test-time transform: ``cv2.resize`` of the BGR image to ``S x S`` (no aspect-ratio padding),
BGR -> RGB, uint8 ``Tensor[1, 3, S, S]``; the model normalises internally. Boxes come back in
original pixels, xyxy.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch import Tensor, nn

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


def _colour(label: int) -> tuple[int, int, int]:
    # spread hues evenly so neighbouring labels differ
    hue = (label * 47) % 180
    bgr = cv2.cvtColor(np.uint8([[[hue, 200, 230]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return int(bgr[0]), int(bgr[1]), int(bgr[2])


def draw_detections(
    bgr: np.ndarray, *, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, class_names: Sequence[str]
) -> np.ndarray:
    """A copy of ``bgr`` with each box and ``"<class> <score>"`` drawn; label ``l`` is
    ``class_names[l - 1]``."""
    out = bgr.copy()
    thickness = max(1, round(min(out.shape[:2]) / 300))
    for (x1, y1, x2, y2), score, label in zip(boxes, scores, labels, strict=True):
        colour = _colour(int(label))
        p1, p2 = (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2)))
        cv2.rectangle(out, p1, p2, colour, thickness)
        text = f"{class_names[int(label) - 1]} {float(score):.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
        top = max(p1[1] - th - base, 0)
        cv2.rectangle(out, (p1[0], top), (p1[0] + tw, top + th + base), colour, -1)
        cv2.putText(out, text, (p1[0], top + th), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return out
