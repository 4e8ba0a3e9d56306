"""Checkpoint files: atomic writes, a ``last_checkpoint`` pointer, the newest K kept, and loading
from a path or URL.

A checkpoint is a dict: ``model`` (state dict of the trained weights), optionally
``model_ema`` (their exponential moving average, what inference uses, see :func:`model_state`)
and ``ema_updates``, ``optimizer``, ``scheduler``, ``scaler``, ``iteration`` (completed steps),
``config`` (the resolved config as YAML text), ``class_names`` (without background) and ``rng``.
Only tensors and plain Python values, so ``torch.load(weights_only=True)`` reads it.

Files are written with the process's umask (like every other output) through a hidden temporary
``.<name>.<random>.tmp`` in the same folder; :func:`remove_stale_temp_files` removes those that a
killed process left behind.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import shutil
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import yaml
from torch import nn
from yacs.config import CfgNode

from ..config import load_config, load_config_text
from .download import download, is_url
from .state_dict import strip_prefix

logger = logging.getLogger(__name__)

POINTER = "last_checkpoint"
BEST = "model_best.pth"
_NAME = re.compile(r"^model_(\d+)\.pth$")
# what _open_temp creates: "." + the target's name + "." + random hex + ".tmp"
_TEMP = re.compile(r"^\.(model_\w+\.pth|last_checkpoint|best\.json)\.[0-9a-zA-Z_]+\.tmp$")


def checkpoint_name(iteration: int) -> str:
    return f"model_{iteration:07d}.pth"


def _open_temp(path: str) -> tuple[int, str]:
    """A new hidden file next to ``path``, created with mode 0666 minus the umask (``mkstemp``
    would make it 0600, unlike every other output of a run)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    while True:
        tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue


# torch.save reports a full disk as RuntimeError("[enforce fail at inline_container.cc] . unexpected
# pos ..."), without the errno: below this many free bytes such an error is taken for a full disk.
_FULL_DISK_BYTES = 1 << 20


def _disk_full(error: BaseException, directory: str) -> bool:
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    if not isinstance(error, RuntimeError):
        return False
    try:
        return shutil.disk_usage(directory).free < _FULL_DISK_BYTES
    except OSError:
        return False


def _atomic_write(path: str, write: Any, mode: str) -> None:
    fd, tmp = _open_temp(path)
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if "b" not in mode else {})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        directory = os.path.dirname(os.path.abspath(path))
        full = _disk_full(e, directory)  # before the partial file is removed and frees its space
        if os.path.exists(tmp):
            os.remove(tmp)
        if full:
            error = OSError(f"no space left on {directory} while writing {os.path.basename(path)} "
                            "(the earlier files are intact): free some space or set OUTPUT_DIR on another disk")
            error.errno = errno.ENOSPC  # str() stays the sentence above, without an "[Errno 28]" prefix
            raise error from e
        raise


def atomic_save(obj: Any, path: str) -> None:
    """``torch.save`` to a temporary file in the same folder, flushed to disk, then renamed over
    ``path``: a crash at any moment leaves either the old file or the new one, never half of one."""
    _atomic_write(path, lambda f: torch.save(obj, f), "wb")


def atomic_write_text(text: str, path: str) -> None:
    """``text`` to ``path`` the same way as :func:`atomic_save`."""
    _atomic_write(path, lambda f: f.write(text), "w")


def remove_stale_temp_files(directory: str) -> list[str]:
    """Delete the temporary files of interrupted checkpoint writes in ``directory`` (only names of
    the pattern this module writes); returns the paths removed."""
    if not os.path.isdir(directory):
        return []
    removed = []
    for name in sorted(os.listdir(directory)):
        if _TEMP.match(name):
            path = os.path.join(directory, name)
            os.remove(path)
            removed.append(path)
    if removed:
        logger.info("removed %d temporary file(s) of interrupted checkpoint writes in %s", len(removed), directory)
    return removed


def nonfinite_tensors(state: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors of a state dict holding NaN or infinity."""
    return [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


def check_finite(state: Mapping[str, Any], *, what: str) -> None:
    """Raise ``FloatingPointError`` naming the tensors when ``state["model"]`` (or
    ``state["model_ema"]``) holds a non-finite value: such weights are never written silently."""
    bad = [f"{key}.{name}" for key in ("model", "model_ema") if key in state for name in nonfinite_tensors(state[key])]
    if bad:
        listing = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise FloatingPointError(
            f"{what}: {len(bad)} parameter/buffer tensor(s) hold NaN or infinity ({listing}); not writing them. "
            "Lower SOLVER.LR or set SOLVER.CLIP_GRAD_NORM, and resume from the last finite checkpoint"
        )


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
    check_finite(state, what=f"checkpoint {path}")
    atomic_save(state, path)
    atomic_write_text(os.path.basename(path) + "\n", os.path.join(directory, POINTER))
    if keep > 0:  # model_best.pth does not match model_<iteration>.pth: never deleted here
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
