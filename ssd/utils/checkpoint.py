"""Checkpoint files: atomic writes, a ``last_checkpoint`` pointer, the newest K kept (reading them,
and everything that knows configs, classes or models, is :mod:`ssd.checkpoint.io`).

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
from collections.abc import Mapping
from typing import Any

import torch

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
