"""What resuming a run checks: the resolved config against the one stored in the checkpoint.

Changing the schedule (``SOLVER.MAX_ITER``, ...) on resume is legitimate (extending a run) and only
logged; changing what the model *is* (architecture keys, classes) would silently continue another
model's training, so it is refused unless ``SOLVER.RESUME_ALLOW_MODEL_CHANGE`` says otherwise.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

logger = logging.getLogger(__name__)

ALLOW_KEY = "SOLVER.RESUME_ALLOW_MODEL_CHANGE"
# keys that define the network (its tensors or how they are read): prefixes of dotted keys
ARCHITECTURE_KEYS = (
    "MODEL.NUM_CLASSES",
    "MODEL.BACKBONE.NAME",
    "MODEL.BACKBONE.WIDTH_MULT",
    "MODEL.BACKBONE.REDUCED_TAIL",
    "MODEL.BACKBONE.VARIANT",
    "MODEL.BACKBONE.OUT_STRIDES",
    "MODEL.NECK.",
    "MODEL.PRIORS.",
    "MODEL.BOX_HEAD.PREDICTOR",
    "MODEL.BOX_HEAD.LOSS",
    "MODEL.CENTER_VARIANCE",
    "MODEL.SIZE_VARIANCE",
    "MODEL.BOX_ORDER",
    "MODEL.BACKBONE.PADDING",
    "INPUT.IMAGE_SIZE",
    "INPUT.PIXEL_MEAN",
    "INPUT.PIXEL_STD",
    "INPUT.PIXEL_RANGE",
)


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"SOLVER": {"LR": 0.1}}`` -> ``{"SOLVER.LR": 0.1}``; tuples become lists (as YAML stores them)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = _plain(value)
    return flat


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def config_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{dotted key: (old value, new value)}`` for every key whose value differs or that only one
    side has (``None`` on the other side), sorted by key."""
    a, b = flatten(old), flatten(new)
    return {k: (a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)}


def is_architecture_key(key: str) -> bool:
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in ARCHITECTURE_KEYS)


def check_resume(
    checkpoint: Mapping[str, Any],
    *,
    source: str,
    config: Mapping[str, Any],
    class_names: Sequence[str],
    allow_model_change: bool,
) -> dict[str, tuple[Any, Any]]:
    """Compare the resolved ``config`` and ``class_names`` with those stored in ``checkpoint``
    (read from ``source``): log every differing key, and raise ``ValueError`` when an architecture
    key or the classes differ, unless ``allow_model_change``. Returns the differences."""
    stored_classes = checkpoint.get("class_names")
    stored_text = checkpoint.get("config")
    diff = config_diff(yaml.safe_load(stored_text) or {}, config) if isinstance(stored_text, str) else {}
    for key, (old, new) in diff.items():
        logger.info("resume: %s was %r in %s, is now %r", key, old, os.path.basename(source), new)
    if not isinstance(stored_text, str):
        logger.warning("resume: %s stores no config; the current one cannot be compared with it", source)
    model_changes = [f"{k} {old!r} -> {new!r}" for k, (old, new) in diff.items() if is_architecture_key(k)]
    if stored_classes and list(stored_classes) != list(class_names):
        model_changes.append(f"classes {list(stored_classes)} -> {list(class_names)}")
    if model_changes and not allow_model_change:
        raise ValueError(
            f"{source} was trained as another model than this config builds: " + "; ".join(model_changes)
            + f". Resuming would continue another model's training: use a new OUTPUT_DIR or pass a key that "
            f"allows it ({ALLOW_KEY} True, when the weights still fit)"
        )
    if model_changes:
        logger.warning("resume: %s True: continuing although %s", ALLOW_KEY, "; ".join(model_changes))
    return diff
