"""Loading configs: ``_BASE_`` inheritance, command-line overrides, validation, freezing."""

from __future__ import annotations

import copy
import difflib
import logging
import os
import re
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
            data = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise ValueError(f"config {path}: invalid YAML: {e}") from e
    if data is None:  # empty, or comments only: the defaults alone would build VGG16 SSD300 on VOC
        raise ValueError(f"config {path} is empty: start from a file in configs/ (or write _BASE_: <one of them>)")
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


_UNKNOWN_KEY = re.compile(r"Non-existent (?:config )?key: (\S+)")


def config_keys(cfg: CN, prefix: str = "") -> list[str]:
    """Every dotted key of ``cfg``, nodes and leaves (``SOLVER``, ``SOLVER.MAX_ITER``, ...)."""
    keys = []
    for name, value in cfg.items():
        full = prefix + name
        keys.append(full)
        if isinstance(value, CN):
            keys += config_keys(value, full + ".")
    return keys


def unknown_key_message(message: str, cfg: CN) -> str:
    """yacs' "Non-existent key: X" message with " (did you mean Y?)" when a real key is close."""
    m = _UNKNOWN_KEY.search(message)
    if not m:
        return message
    key = m.group(1)
    keys = config_keys(cfg)
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    if not close:  # a typo in one part of a long key: compare the last part within the same parent
        parent, _, leaf = key.rpartition(".")
        siblings = [k for k in keys if k.rpartition(".")[0] == parent]
        close = difflib.get_close_matches(key, siblings, n=1, cutoff=0.4) if parent and leaf else []
    return f"unknown config key {key}" + (f" (did you mean {close[0]}?)" if close else "")


def _merge(cfg: CN, data: dict[str, Any], *, source: str) -> None:
    data = dict(data)
    data.pop(BASE_KEY, None)  # resolved by load_yaml_with_bases; a dumped config holds ""
    try:
        cfg.merge_from_other_cfg(CN(data))
    except (KeyError, ValueError, AssertionError) as e:
        kind = KeyError if isinstance(e, AssertionError) else type(e)
        text = e.args[0] if e.args else str(e)
        raise kind(f"config {source}: {unknown_key_message(str(text), cfg)}") from None


def _merge_mapping_overrides(cfg: CN, opts: list[str]) -> list[str]:
    """Apply the ``KEY VALUE`` pairs whose key is an open mapping (a node that takes any key, such
    as ``MODEL.WEIGHTS_CLASS_MAP``) and whose value is a YAML mapping, ``"{pedestrian: person}"``
    (yacs cannot merge a dict from the command line); return the other pairs."""
    rest = []
    for key, value in zip(opts[::2], opts[1::2], strict=True):
        node = cfg
        for part in key.split("."):
            node = node.get(part) if isinstance(node, CN) else None
        if isinstance(node, CN) and node.is_new_allowed() and isinstance(value, str):
            try:
                data = yaml.safe_load(value)
            except yaml.YAMLError as e:
                raise ValueError(f"command-line override {key}: not a YAML mapping: {e}") from None
            if not isinstance(data, dict):
                raise ValueError(f"command-line override {key}: expected a mapping like \"{{a: b}}\", got {value!r}")
            node.clear()
            node.update({str(k): v for k, v in data.items()})
            continue
        rest += [key, value]
    return rest


def _finish(cfg: CN, opts: Sequence[str], *, freeze: bool) -> CN:
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
        opts = _merge_mapping_overrides(cfg, opts)
        try:
            cfg.merge_from_list(opts)
        except (KeyError, AssertionError) as e:  # yacs asserts on unknown keys
            text = e.args[0] if e.args else str(e)
            raise KeyError(f"command-line override: {unknown_key_message(str(text), cfg)}") from None
    validate_config(cfg)
    if freeze:
        cfg.freeze()
    return cfg


def load_config(
    config_file: str | None = None,
    opts: Sequence[str] = (),
    *,
    freeze: bool = True,
) -> CN:
    """Defaults <- YAML file (with its bases) <- ``KEY VALUE`` overrides, validated and frozen.

    Raises ``KeyError`` for unknown keys (suggesting the closest real key) and ``ValueError``
    for inconsistent values.
    """
    cfg = get_cfg()
    if config_file:
        _merge(cfg, load_yaml_with_bases(config_file), source=config_file)
    return _finish(cfg, opts, freeze=freeze)


def load_config_text(text: str, opts: Sequence[str] = (), *, source: str, freeze: bool = True) -> CN:
    """Defaults <- a resolved config as YAML text (what a checkpoint stores) <- overrides.

    ``source`` names where the text came from in errors (the checkpoint's path)."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"config stored in {source}: invalid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"config stored in {source}: expected a mapping, got {type(data).__name__}")
    cfg = get_cfg()
    data = rename_deprecated_keys(data, f"config stored in {source}")  # checkpoints written before a rename
    _merge(cfg, data, source=f"stored in {source}")
    return _finish(cfg, opts, freeze=freeze)
