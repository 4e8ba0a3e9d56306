"""Loading configs: ``_BASE_`` inheritance, command-line overrides, validation, freezing."""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from typing import Any

import yaml
from yacs.config import CfgNode as CN

from .defaults import _C
from .validation import validate_config

BASE_KEY = "_BASE_"


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
        try:
            cfg.merge_from_list(list(opts))
        except AssertionError as e:  # yacs asserts on unknown keys
            raise KeyError(f"command-line override: {e}") from None
    validate_config(cfg)
    if freeze:
        cfg.freeze()
    return cfg
