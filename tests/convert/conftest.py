"""Shared helpers of the conversion tests: the reference key lists and shapes of the real source
checkpoints (copied from the projects' released files into fixtures/), made into state dicts."""

from __future__ import annotations

import json
import os

import torch

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def reference_shapes(name: str) -> dict[str, list[int]]:
    with open(os.path.join(FIXTURES, f"{name}.json"), encoding="utf-8") as f:
        return json.load(f)


def synthetic_state_dict(name: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors with the keys and shapes of a released checkpoint (``num_batches_tracked``
    as int64 scalars, as PyTorch stores them)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in reference_shapes(name).items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0, dtype=torch.int64)
        else:
            state[key] = torch.randn(shape, generator=g) * 0.05
    return state
