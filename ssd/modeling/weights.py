"""Pretrained backbone weights: a torchvision weights name, a URL or a local path.

- ``"VGG16_Weights.IMAGENET1K_FEATURES"``: resolved with ``torchvision.models.get_weight``;
- ``"https://..."`` / ``"file://..."``: downloaded once through :func:`ssd.utils.download.download`
  (torch hub cache, hash-checked when the file name carries one: ``name-<sha256 prefix>.pth``);
- anything else: a local file.

Always loaded with ``weights_only=True``. Loading reports how many backbone tensors the weights
initialised and refuses to leave any untrained unless told so (:func:`load_backbone_weights`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torchvision.models import get_weight

from ..utils.download import download, is_url

if TYPE_CHECKING:
    from .backbone.base import Backbone

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


@dataclass(frozen=True)
class WeightsReport:
    """What loading pretrained weights did to a backbone's tensors (state-dict keys)."""

    initialised: list[str]  # taken from the weights
    new_layers: list[str]  # the backbone's own layers (``Backbone.new_layers``), kept as built
    uninitialised: list[str]  # neither: they would train from scratch
    mismatched: list[str]  # in the weights with another shape (also in ``uninitialised``)
    non_finite: list[str]  # in the weights with NaN / inf values (also in ``uninitialised``)
    unexpected: list[str]  # in the weights, not in the backbone (ignored)


def _is_counter(key: str) -> bool:
    """BatchNorm's step counter: a buffer, not a weight."""
    return key.endswith("num_batches_tracked")


def load_backbone_weights(backbone: Backbone, spec: str, *, allow_partial: bool = False) -> WeightsReport | None:
    """Load ``spec`` into ``backbone`` (no-op returning ``None`` for ``""``) through its
    ``adapt_pretrained``, and log how many of its tensors the weights initialised.

    Tensors whose shapes do not fit, or whose values are not finite, are not loaded. Raises
    ``ValueError`` when any backbone tensor outside ``backbone.new_layers`` is left uninitialised
    (it would train from scratch), unless ``allow_partial`` (``MODEL.BACKBONE.ALLOW_PARTIAL_WEIGHTS``).
    """
    if not spec:
        return None
    state = backbone.adapt_pretrained(fetch_state_dict(spec))
    own = backbone.state_dict()
    mismatched = sorted(k for k, v in state.items() if k in own and own[k].shape != v.shape)
    non_finite = sorted(
        k for k, v in state.items()
        if k in own and k not in mismatched and v.is_floating_point() and not torch.isfinite(v).all()
    )
    for k in mismatched:
        logger.warning("backbone weights %s: %s has shape %s, model has %s; skipped",
                       spec, k, tuple(state[k].shape), tuple(own[k].shape))
    for k in mismatched + non_finite:
        del state[k]
    result = backbone.load_state_dict(state, strict=False)
    missing = set(result.missing_keys)
    weights = [k for k in own if not _is_counter(k)]
    by_design = [k for k in weights if k in missing and k.startswith(tuple(backbone.new_layers))]
    report = WeightsReport(
        initialised=[k for k in weights if k not in missing],
        new_layers=by_design,
        uninitialised=[k for k in weights if k in missing and k not in by_design],
        mismatched=mismatched,
        non_finite=non_finite,
        unexpected=sorted(k for k in result.unexpected_keys if not _is_counter(k)),
    )
    logger.info(
        "backbone weights %s: initialised %d/%d backbone tensors (%d new layers kept as built: %s)",
        spec, len(report.initialised), len(weights), len(by_design), by_design,
    )
    if report.unexpected:
        logger.warning("backbone weights %s: unexpected keys (ignored): %s", spec, report.unexpected)
    if report.uninitialised:
        detail = f"{report.uninitialised}"
        if mismatched:
            detail += f"; of which shape mismatches {mismatched}"
        if non_finite:
            detail += f"; of which non-finite in the file {non_finite}"
        message = (
            f"backbone weights {spec} leave {len(report.uninitialised)} of {len(weights)} "
            f"{type(backbone).__name__} tensors uninitialised (they would train from scratch): {detail}"
        )
        if not allow_partial:
            raise ValueError(message + ". Set MODEL.BACKBONE.ALLOW_PARTIAL_WEIGHTS True if that is intended")
        logger.warning("%s (MODEL.BACKBONE.ALLOW_PARTIAL_WEIGHTS: allowed)", message)
    return report
