"""Loading configs: ``_BASE_`` inheritance, command-line overrides, validation, freezing."""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Sequence
from typing import Any

import yaml
from yacs.config import CfgNode as CN

from .defaults import _C
from .validation import validate_config

BASE_KEY = "_BASE_"

logger = logging.getLogger(__name__)

# Old key -> its new name. The old names still load, with a warning; a file giving both is an error.
DEPRECATED_KEYS = {
    "MODEL.BACKBONE.NORM_EPS": "MODEL.NORM_EPS",
    "MODEL.BACKBONE.NORM_MOMENTUM": "MODEL.NORM_MOMENTUM",
    "MODEL.BOX_HEAD.INIT": "MODEL.INIT",
}


def rename_deprecated_keys(data: dict[str, Any], source: str) -> dict[str, Any]:
    """``data`` (a nested mapping as read from YAML) with every key of :data:`DEPRECATED_KEYS` moved
    to its new name, each logged as a warning naming ``source``. Raises ``ValueError`` when both
    names are given."""
    data = copy.deepcopy(data)
    for old, new in DEPRECATED_KEYS.items():
        *old_path, old_leaf = old.split(".")
        parent = data
        for part in old_path:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if not isinstance(parent, dict) or old_leaf not in parent:
            continue
        value = parent.pop(old_leaf)
        *new_path, new_leaf = new.split(".")
        target = data
        for part in new_path:
            target = target.setdefault(part, {})
        if new_leaf in target:
            raise ValueError(f"{source}: both {old} (deprecated) and {new} are given; keep only {new}")
        target[new_leaf] = value
        logger.warning("%s: %s is deprecated, use %s (read as %s = %r)", source, old, new, new, value)
    return data


def get_cfg() -> CN:
    """A fresh, mutable copy of the defaults (never the shared instance)."""
    return _C.clone()


def _deep_merge(base: dict, override: dict) -> dict:
    """Merge ``override`` into a copy of ``base``; nested mappings merge, everything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_yaml_with_bases(path: str, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """Read a YAML config and resolve its ``_BASE_`` chain (a path or a list of paths).

    Base paths are relative to the file naming them. Later bases override earlier ones and the
    file itself overrides all its bases.
    """
    path = os.path.abspath(path)
    if path in _seen:
        raise ValueError(f"config {path}: _BASE_ cycle through {' -> '.join(_seen + (path,))}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file not found: {path}")
    with open(path, encoding="utf-8") as f:
        try:
            data = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            raise ValueError(f"config {path}: invalid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"config {path}: expected a mapping at top level, got {type(data).__name__}")
    data = rename_deprecated_keys(data, f"config {path}")
    bases = data.pop(BASE_KEY, None) or []
    if isinstance(bases, str):
        bases = [bases]
    merged: dict[str, Any] = {}
    for base in bases:
        base_path = base if os.path.isabs(base) else os.path.join(os.path.dirname(path), base)
        merged = _deep_merge(merged, load_yaml_with_bases(base_path, _seen + (path,)))
    return _deep_merge(merged, data)


def load_config(
    config_file: str | None = None,
    opts: Sequence[str] = (),
    *,
    freeze: bool = True,
) -> CN:
    """Defaults <- YAML file (with its bases) <- ``KEY VALUE`` overrides, validated and frozen.

    Raises ``KeyError`` for unknown keys and ``ValueError`` for inconsistent values.
    """
    cfg = get_cfg()
    if config_file:
        data = load_yaml_with_bases(config_file)
        try:
            cfg.merge_from_other_cfg(CN(data))
        except (KeyError, ValueError, AssertionError) as e:
            kind = KeyError if isinstance(e, AssertionError) else type(e)
            raise kind(f"config {config_file}: {e}") from e
    if opts:
        if len(opts) % 2:
            raise ValueError(f"overrides must be KEY VALUE pairs, got an odd count: {list(opts)}")
        opts = list(opts)
        for i in range(0, len(opts), 2):
            if opts[i] in DEPRECATED_KEYS:
                new = DEPRECATED_KEYS[opts[i]]
                if new in opts[::2]:
                    raise ValueError(f"command-line override: both {opts[i]} (deprecated) and {new} are given")
                logger.warning("command-line override: %s is deprecated, use %s", opts[i], new)
                opts[i] = new
        try:
            cfg.merge_from_list(opts)
        except AssertionError as e:  # yacs asserts on unknown keys
            raise KeyError(f"command-line override: {e}") from None
    validate_config(cfg)
    if freeze:
        cfg.freeze()
    return cfg
