"""Pretrained backbone weights: a torchvision weights name, a URL or a local path.

- ``"VGG16_Weights.IMAGENET1K_FEATURES"``: resolved with ``torchvision.models.get_weight``;
- ``"https://..."`` / ``"file://..."``: downloaded once through :func:`ssd.utils.download.download`
  (torch hub cache, hash-checked when the file name carries one: ``name-<sha256 prefix>.pth``);
- anything else: a local file.

Always loaded with ``weights_only=True``. Missing and unexpected keys are logged, never silent.
"""

from __future__ import annotations

import logging
import os

import torch
from torch import Tensor, nn
from torchvision.models import get_weight

from ..utils.download import download, is_url

logger = logging.getLogger(__name__)


def fetch_state_dict(spec: str, *, option: str = "MODEL.BACKBONE.WEIGHTS") -> dict[str, Tensor]:
    """Load a state dict from a torchvision weights name, a URL or a path (see module doc).

    ``option`` names where the user gave ``spec``, for the offline message of a URL."""
    if not is_url(spec) and not os.path.exists(spec) and "_Weights." in spec:
        try:
            spec = get_weight(spec).url
        except (ValueError, KeyError, AttributeError) as e:
            raise ValueError(f"unknown torchvision weights name {spec!r}: {e}") from e
    path = download(spec, option=option) if is_url(spec) else spec
    if os.path.isfile(path):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - name the file whatever went wrong
            raise ValueError(f"cannot load weights from {spec}: {e}") from e
    else:
        raise FileNotFoundError(f"weights not found: {spec!r} is neither a file, a URL nor a torchvision name")
    for key in ("model", "state_dict"):  # checkpoints that wrap the state dict
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"{spec}: expected a state dict, got {type(state).__name__}")
    return state


def load_backbone_weights(backbone: nn.Module, spec: str) -> None:
    """Load ``spec`` into ``backbone`` (no-op for ``""``), renaming keys with the backbone's
    ``adapt_pretrained`` when it has one, and dropping tensors whose shapes do not fit."""
    if not spec:
        return
    state = fetch_state_dict(spec)
    adapt = getattr(backbone, "adapt_pretrained", None)
    if adapt is not None:
        state = adapt(state)
    own = backbone.state_dict()
    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    for k in mismatched:
        logger.warning("backbone weights %s: %s has shape %s, model has %s; skipped",
                       spec, k, tuple(state[k].shape), tuple(own[k].shape))
        del state[k]
    result = backbone.load_state_dict(state, strict=False)
    loaded = len(own) - len(result.missing_keys)
    logger.info("backbone weights %s: loaded %d/%d tensors", spec, loaded, len(own))
    if result.missing_keys:
        logger.warning("backbone weights %s: missing keys (kept initialised): %s", spec, result.missing_keys)
    if result.unexpected_keys:
        logger.warning("backbone weights %s: unexpected keys (ignored): %s", spec, result.unexpected_keys)
