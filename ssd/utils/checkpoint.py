"""Checkpoint files: atomic writes, a ``last_checkpoint`` pointer, the newest K kept, and loading
from a path or URL.

A checkpoint is a dict: ``model`` (state dict), ``optimizer``, ``scheduler``, ``scaler``,
``iteration`` (completed steps), ``config`` (the resolved config as YAML text), ``class_names``
(background first) and ``rng``. Only tensors and plain Python values, so
``torch.load(weights_only=True)`` reads it.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Sequence
from typing import Any

import torch
from yacs.config import CfgNode

from ..config import load_config, load_config_text
from .download import download, is_url
from .state_dict import strip_prefix

logger = logging.getLogger(__name__)

POINTER = "last_checkpoint"
_NAME = re.compile(r"^model_(\d+)\.pth$")


def checkpoint_name(iteration: int) -> str:
    return f"model_{iteration:07d}.pth"


def atomic_save(obj: Any, path: str) -> None:
    """``torch.save`` to a temporary file in the same folder, flushed to disk, then renamed over
    ``path``: a crash at any moment leaves either the old file or the new one, never half of one."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _atomic_write_text(text: str, path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def list_checkpoints(directory: str) -> list[str]:
    """``model_<iteration>.pth`` files in ``directory``, oldest iteration first."""
    if not os.path.isdir(directory):
        return []
    found = [(int(m.group(1)), n) for n in os.listdir(directory) if (m := _NAME.match(n))]
    return [os.path.join(directory, n) for _, n in sorted(found)]


def save_checkpoint(state: dict[str, Any], *, directory: str, iteration: int, keep: int) -> str:
    """Write ``model_<iteration>.pth`` atomically, point ``last_checkpoint`` at it, then delete all
    but the newest ``keep`` checkpoints (``keep <= 0`` keeps all). Returns the file written."""
    path = os.path.join(directory, checkpoint_name(iteration))
    atomic_save(state, path)
    _atomic_write_text(os.path.basename(path) + "\n", os.path.join(directory, POINTER))
    if keep > 0:
        for old in list_checkpoints(directory)[:-keep]:
            if os.path.abspath(old) != os.path.abspath(path):
                os.remove(old)
    logger.info("saved checkpoint %s", path)
    return path


def last_checkpoint(directory: str) -> str | None:
    """The file ``last_checkpoint`` names, else the newest ``model_*.pth``, else ``None``."""
    pointer = os.path.join(directory, POINTER)
    if os.path.isfile(pointer):
        with open(pointer, encoding="utf-8") as f:
            name = f.read().strip()
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
        logger.warning("%s names %s, which does not exist; using the newest checkpoint", pointer, path)
    found = list_checkpoints(directory)
    return found[-1] if found else None


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


def model_state(checkpoint: dict[str, Any], *, source: str) -> dict[str, torch.Tensor]:
    """The model state dict inside ``checkpoint`` (or the checkpoint itself when it is one)."""
    state = checkpoint.get("model", checkpoint)
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
