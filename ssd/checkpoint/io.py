"""Reading checkpoints: a path or URL to a checkpoint dict, its model weights, the config and
classes it was trained with, conflicts with a given config, and the message when its tensors do not
fit a model. (Writing them, atomically, is :mod:`ssd.utils.checkpoint`: that knows no configs.)"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import torch
import yaml
from torch import nn
from yacs.config import CfgNode

from ..config import load_config, load_config_text
from ..utils.download import download, is_url
from ..utils.state_dict import strip_prefix


def resolve_path(path_or_url: str, *, cache_dir: str | None = None, option: str = "--ckpt") -> str:
    """A local file for ``path_or_url``; URLs go through :func:`ssd.utils.download.download` (cached
    by the whole URL, hash-checked when the file name carries one)."""
    if is_url(path_or_url):
        return download(path_or_url, cache_dir=cache_dir, option=option)
    if not os.path.isfile(path_or_url):
        raise FileNotFoundError(f"checkpoint not found: {path_or_url}")
    return path_or_url


def load_checkpoint(path_or_url: str, *, cache_dir: str | None = None, option: str = "--ckpt") -> dict[str, Any]:
    """Read a checkpoint (or a bare model state dict) with ``weights_only=True`` on the CPU.

    ``option`` names where the user gave ``path_or_url`` (for the offline message of a URL).
    Raises ``ValueError`` naming the file when it is not a torch file or not a dict.
    """
    path = resolve_path(path_or_url, cache_dir=cache_dir, option=option)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # the weights-only unpickler raises many types on foreign files
        raise ValueError(f"{path} is not a readable checkpoint (torch.load with weights_only=True failed: {e})") from e
    if not isinstance(obj, dict):
        raise ValueError(f"{path} is not a checkpoint: it holds a {type(obj).__name__}, expected a dict")
    return obj


def model_state(checkpoint: dict[str, Any], *, source: str, ema: bool = True) -> dict[str, torch.Tensor]:
    """The model state dict inside ``checkpoint`` (or the checkpoint itself when it is one).

    For inference (``ema=True``, the default) the EMA weights (``model_ema``) when the checkpoint
    has them, else the trained ones (``model``); ``ema=False`` always gives ``model`` (what resuming
    a training needs)."""
    state = checkpoint.get("model_ema") if ema and "model_ema" in checkpoint else checkpoint.get("model", checkpoint)
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{source} holds no model weights: expected a 'model' state dict of tensors")
    return strip_prefix(state)  # weights saved from a DistributedDataParallel wrapper carry "module."


def checkpoint_config(
    checkpoint: dict[str, Any], *, source: str, config_file: str | None = None, opts: Sequence[str] = ()
) -> CfgNode:
    """The config to run a checkpoint with: ``config_file`` when given (it wins), else the
    resolved config the checkpoint stores; ``opts`` on top either way.

    Raises ``ValueError`` when neither exists."""
    if config_file:
        return load_config(config_file, opts)
    text = checkpoint.get("config")
    if not text:
        raise ValueError(f"{source} stores no config: pass --config-file (config_file=...) describing its model")
    return load_config_text(text, opts, source=source)


def checkpoint_conflicts(checkpoint: dict[str, Any], cfg: CfgNode, *, source: str) -> list[str]:
    """Settings of ``cfg`` that the checkpoint overrules (its class names decide the head), one
    message each: ``MODEL.NUM_CLASSES`` other than 0 or the checkpoint's count, and a
    ``DATASETS.CLASSES`` list other than its names."""
    names = list(checkpoint.get("class_names") or [])
    if not names:
        return []
    messages = []
    expected = len(names) + 1
    if cfg.MODEL.NUM_CLASSES not in (0, expected):
        messages.append(f"MODEL.NUM_CLASSES = {cfg.MODEL.NUM_CLASSES} is ignored: {source} has {len(names)} classes "
                        f"(+ background = {expected}), and its head decides")
    declared = [] if isinstance(cfg.DATASETS.CLASSES, str) else list(cfg.DATASETS.CLASSES)
    is_file = len(declared) == 1 and str(declared[0]).endswith(".txt")  # the one-item list naming a file
    if declared and not is_file and declared != names:
        messages.append(f"DATASETS.CLASSES = {declared} is ignored: {source} was trained on {names}")
    return messages


def describe_config(config: Mapping[str, Any], *, num_classes: int | None = None) -> str:
    """``"mobilenet_v3_large + ssdlite_extras model with 81 classes"`` from a config (a CfgNode or
    the plain dict of a stored one); ``num_classes`` counts background and overrides
    ``MODEL.NUM_CLASSES``."""
    model = config.get("MODEL", {})
    backbone = model.get("BACKBONE", {}).get("NAME", "?")
    neck = model.get("NECK", {}).get("NAME", "?")
    n = num_classes if num_classes is not None else model.get("NUM_CLASSES", 0)
    return f"{backbone} + {neck} model" + (f" with {n} classes" if n else "")


def _stored_description(checkpoint: Mapping[str, Any]) -> str | None:
    text = checkpoint.get("config")
    if not isinstance(text, str):
        return None
    try:
        stored = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(stored, dict):
        return None
    names = checkpoint.get("class_names")
    return describe_config(stored, num_classes=len(names) + 1 if names else None)


def mismatch_message(
    checkpoint: Mapping[str, Any],
    *,
    source: str,
    weights: Mapping[str, torch.Tensor],
    model: nn.Module,
    config: Mapping[str, Any] | None = None,
    num_classes: int | None = None,
) -> str | None:
    """Why ``weights`` (taken from ``checkpoint``, read from ``source``) do not fit ``model``, or
    ``None`` when they do: what the checkpoint is according to its stored config, what ``config``
    builds (``num_classes`` with background), and how many tensors are missing, unexpected or of
    another shape, with the first few of each. Replaces torch's ``load_state_dict`` error."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    reshaped = [k for k in expected if k in weights and tuple(weights[k].shape) != tuple(expected[k].shape)]
    if not (missing or unexpected or reshaped):
        return None
    name = os.path.basename(source)
    stored = _stored_description(checkpoint)
    head = f"{name} is a {stored}" if stored else f"{name} (which stores no config)"
    if config is not None:
        head += f"; this config builds {describe_config(config, num_classes=num_classes)}"
    parts = []
    if reshaped:
        first = ", ".join(f"{k} {list(weights[k].shape)} vs {list(expected[k].shape)}" for k in reshaped[:3])
        parts.append(f"{len(reshaped)} of another shape (checkpoint vs model: {first})")
    if missing:
        parts.append(f"{len(missing)} missing from the checkpoint ({', '.join(missing[:3])})")
    if unexpected:
        parts.append(f"{len(unexpected)} not in the model ({', '.join(unexpected[:3])})")
    n_bad = len(missing) + len(unexpected) + len(reshaped)
    return (f"{head}. {n_bad} tensors do not match (the model has {len(expected)}, the checkpoint {len(weights)}): "
            + "; ".join(parts)
            + ". Use the config the checkpoint was trained with")


def load_model_weights(
    model: nn.Module,
    checkpoint: Mapping[str, Any],
    *,
    source: str,
    config: Mapping[str, Any] | None = None,
    num_classes: int | None = None,
    ema: bool = True,
) -> None:
    """``model.load_state_dict`` of :func:`model_state` (EMA weights unless ``ema=False``), raising
    ``ValueError`` with :func:`mismatch_message` when the checkpoint holds another architecture."""
    weights = model_state(dict(checkpoint), source=source, ema=ema)
    message = mismatch_message(checkpoint, source=source, weights=weights, model=model, config=config,
                               num_classes=num_classes)
    if message:
        raise ValueError(message)
    model.load_state_dict(weights)


def place_weights(model: nn.Module, weights: Mapping[str, torch.Tensor], *, may_miss: Collection[str] = ()) -> None:
    """Copy a converter's ``weights`` into ``model`` by name: every tensor must be the model's and
    of its shape, and every tensor of the model must be given except those in ``may_miss`` (they
    keep their values). Raises ``ValueError`` naming the tensors otherwise."""
    expected = model.state_dict()
    unknown = [k for k in weights if k not in expected]
    reshaped = [k for k in weights if k in expected and tuple(weights[k].shape) != tuple(expected[k].shape)]
    optional = set(may_miss)
    missing = [k for k in expected if k not in weights and k not in optional]
    if unknown or reshaped or missing:
        parts = [f"{what}: {', '.join(keys[:3])}" + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
                 for what, keys in (("not in the model", unknown), ("of another shape", reshaped),
                                    ("not given", missing)) if keys]
        raise ValueError("converted weights do not fit the model (" + "; ".join(parts) + ")")
    model.load_state_dict(weights, strict=False)
