"""SGD with momentum (the papers' solver) or AdamW, optionally without decay on norm and bias parameters."""

from __future__ import annotations

from collections.abc import Iterator

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


def _trainable_parameters(model: nn.Module) -> Iterator[tuple[nn.Module, str, nn.Parameter]]:
    """``(module, name, parameter)`` of every trainable parameter, each once even if shared."""
    seen: set[int] = set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if param.requires_grad and id(param) not in seen:
                seen.add(id(param))
                yield module, name, param


def split_decay_params(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """``(decay, no_decay)``: parameters of normalisation layers and every bias go to ``no_decay``.

    Only trainable parameters are returned; each appears once even if shared between modules.
    """
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for module, name, param in _trainable_parameters(model):
        (no_decay if isinstance(module, _NORM_TYPES) or name == "bias" else decay).append(param)
    return decay, no_decay


def split_bias_params(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """``(others, biases)``: the ``bias`` of every layer that is not a normalisation layer, and the
    rest (trainable only, each once)."""
    others: list[nn.Parameter] = []
    biases: list[nn.Parameter] = []
    for module, name, param in _trainable_parameters(model):
        (biases if name == "bias" and not isinstance(module, _NORM_TYPES) else others).append(param)
    return others, biases


def param_groups(
    model: nn.Module,
    *,
    lr: float,
    weight_decay: float,
    no_decay_norm_bias: bool,
    bias_lr_factor: float = 1.0,
    no_decay_bias: bool = False,
) -> list[dict]:
    """One group of the trainable parameters; or, with ``no_decay_norm_bias``, the decayed ones
    followed by the norm/bias group with ``weight_decay = 0``; or, with ``bias_lr_factor != 1`` or
    ``no_decay_bias`` (Caffe SSD's ``lr_mult: 2, decay_mult: 0`` on every conv bias, model_libs.py),
    the other parameters followed by the conv / linear biases at ``lr * bias_lr_factor``, decayed
    unless ``no_decay_bias``."""
    if bias_lr_factor <= 0:
        raise ValueError(f"bias LR factor = {bias_lr_factor}; expected > 0")
    if bias_lr_factor != 1.0 or no_decay_bias:
        if no_decay_norm_bias:
            raise ValueError("SOLVER.NO_DECAY_NORM_BIAS and the bias options (BIAS_LR_FACTOR != 1, NO_DECAY_BIAS) "
                             "are alternatives: set one")
        others, biases = split_bias_params(model)
        groups = [{"params": others, "weight_decay": weight_decay, "lr": lr}]
        if biases:
            groups.append({"params": biases, "weight_decay": 0.0 if no_decay_bias else weight_decay,
                           "lr": lr * bias_lr_factor})
        return groups
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
    bias_lr_factor: float = 1.0,
    no_decay_bias: bool = False,
) -> torch.optim.SGD:
    """SGD over the trainable parameters of ``model``, in the groups of :func:`param_groups`."""
    if lr <= 0 or momentum < 0 or weight_decay < 0:
        raise ValueError(f"SGD needs lr > 0, momentum >= 0, weight_decay >= 0; got {lr}, {momentum}, {weight_decay}")
    groups = param_groups(model, lr=lr, weight_decay=weight_decay, no_decay_norm_bias=no_decay_norm_bias,
                          bias_lr_factor=bias_lr_factor, no_decay_bias=no_decay_bias)
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
    groups = param_groups(model, lr=lr, weight_decay=weight_decay, no_decay_norm_bias=no_decay_norm_bias)
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
