"""State-dict key helpers shared by checkpoint loading and weight conversion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

V = TypeVar("V")

DDP_PREFIX = "module."  # what DistributedDataParallel (and DataParallel) put before every key


def strip_prefix(state_dict: Mapping[str, V], prefix: str = DDP_PREFIX) -> dict[str, V]:
    """Drop ``prefix`` (DistributedDataParallel's ``module.``) when every key carries it; a state
    dict where only some keys do is returned unchanged (a copy)."""
    if state_dict and all(k.startswith(prefix) for k in state_dict):
        return {k[len(prefix):]: v for k, v in state_dict.items()}
    return dict(state_dict)
