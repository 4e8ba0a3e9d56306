"""Shared pieces of the export tests: detectors with spread-out scores, and detection matching."""

from __future__ import annotations

import torch
from torch import Tensor, nn

BOX_RTOL, SCORE_TOL = 1e-3, 1e-5


@torch.no_grad()
def randomise(detector: nn.Module, images: Tensor, *, seed: int = 0, cls_scale: float = 4.0) -> nn.Module:
    """Random biases and BatchNorm affine parameters, BatchNorm statistics measured on ``images``
    (a training-mode pass with momentum 1: arbitrary statistics saturate ReLU6 / hard-swish into
    exact ties) and a sharper classifier, so that scores spread over (0, 1) and NMS has work to do.
    Returns ``detector`` in eval mode."""
    g = torch.Generator().manual_seed(seed)
    norms = [m for m in detector.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in detector.modules():
        if isinstance(m, nn.Conv2d) and m.bias is not None:
            m.bias.copy_(torch.rand(m.bias.shape, generator=g) * 0.1 - 0.05)
    for m in norms:
        m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
        m.bias.copy_(torch.rand(m.bias.shape, generator=g) * 0.6 - 0.3)
        m.momentum = 1.0
    if norms:
        detector.train()
        detector.box_head.predictor(detector.features(images))
    detector.eval()
    for head in detector.box_head.predictor.cls_heads:
        last = head if isinstance(head, nn.Conv2d) else head[-1]
        last.weight.mul_(cls_scale)
        last.bias.copy_(torch.randn(last.bias.shape, generator=g))
    return detector


def test_images(size: int, count: int = 3, seed: int = 0) -> Tensor:
    """``uint8 Tensor[count, 3, size, size]``: colour ramps with noise, a different image each."""
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0, 1, size)
    out = []
    for i in range(count):
        base = torch.stack([ramp.view(1, -1).expand(size, size), ramp.view(-1, 1).expand(size, size),
                            torch.full((size, size), i / count)])
        out.append(((0.6 * base + 0.4 * torch.rand(3, size, size, generator=g)) * 255).round().to(torch.uint8))
    return torch.stack(out)


test_images.__test__ = False  # a helper, not a test


def assert_same_detections(expected: dict[str, Tensor], actual: dict[str, Tensor], *,
                           score_tol: float = SCORE_TOL) -> tuple[float, float]:
    """Pair every expected detection with one actual detection of the same label, box within
    ``BOX_RTOL`` relative (of the box's size, at least 1 px) and score within ``score_tol``: a
    pairing rather than a sort, so near-equal scores may come out in either order. Returns the
    largest box and score differences."""
    assert len(expected["scores"]) == len(actual["scores"]), (len(expected["scores"]), len(actual["scores"]))
    free = torch.ones(len(actual["scores"]), dtype=torch.bool)
    max_box = max_score = 0.0
    for box, score, label in zip(expected["boxes"], expected["scores"], expected["labels"], strict=True):
        box_diff = (actual["boxes"] - box).abs().amax(dim=1)
        tol = BOX_RTOL * max(1.0, float(box.abs().max()))
        score_diff = (actual["scores"] - score).abs()
        ok = free & (actual["labels"] == label) & (box_diff <= tol) & (score_diff <= score_tol)
        assert ok.any(), f"no match for label {int(label)} score {float(score):.6f} box {box.tolist()}"
        j = int(torch.nonzero(ok)[0])
        free[j] = False
        max_box, max_score = max(max_box, float(box_diff[j])), max(max_score, float(score_diff[j]))
    return max_box, max_score
