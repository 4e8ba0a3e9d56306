"""SGD with momentum (the papers' solver) or AdamW, optionally without decay on norm and bias parameters."""

from __future__ import annotations

import torch
from torch import nn

# Normalisation layers whose affine parameters should not be pulled towards zero: decaying a
# BatchNorm scale only changes the effective learning rate of the layer before it.
_NORM_TYPES = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
)


def split_decay_params(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """``(decay, no_decay)``: parameters of normalisation layers and every bias go to ``no_decay``.

    Only trainable parameters are returned; each appears once even if shared between modules.
    """
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    seen: set[int] = set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            if isinstance(module, _NORM_TYPES) or name == "bias":
                no_decay.append(param)
            else:
                decay.append(param)
    return decay, no_decay


def param_groups(model: nn.Module, *, weight_decay: float, no_decay_norm_bias: bool) -> list[dict]:
    """One group of the trainable parameters, or, with ``no_decay_norm_bias``, the decayed ones
    followed by the norm/bias group with ``weight_decay = 0``."""
    if not no_decay_norm_bias:
        return [{"params": [p for p in model.parameters() if p.requires_grad], "weight_decay": weight_decay}]
    decay, no_decay = split_decay_params(model)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def make_sgd(
    model: nn.Module,
    *,
    lr: float,
    momentum: float,
    weight_decay: float,
    no_decay_norm_bias: bool = False,
) -> torch.optim.SGD:
    """SGD over the trainable parameters of ``model``.

    With ``no_decay_norm_bias`` there are two parameter groups (decayed first, then the
    norm/bias group with ``weight_decay = 0``); otherwise one group.
    """
    if lr <= 0 or momentum < 0 or weight_decay < 0:
        raise ValueError(f"SGD needs lr > 0, momentum >= 0, weight_decay >= 0; got {lr}, {momentum}, {weight_decay}")
    groups = param_groups(model, weight_decay=weight_decay, no_decay_norm_bias=no_decay_norm_bias)
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)


def make_adamw(
    model: nn.Module, *, lr: float, weight_decay: float, no_decay_norm_bias: bool = False
) -> torch.optim.AdamW:
    """AdamW over the trainable parameters of ``model`` (same parameter groups as :func:`make_sgd`).

    Not the papers' solver: it converges much faster from scratch on short CPU schedules (the
    quickstart), where SGD needs hundreds of epochs.
    """
    if lr <= 0 or weight_decay < 0:
        raise ValueError(f"AdamW needs lr > 0, weight_decay >= 0; got {lr}, {weight_decay}")
    groups = param_groups(model, weight_decay=weight_decay, no_decay_norm_bias=no_decay_norm_bias)
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
