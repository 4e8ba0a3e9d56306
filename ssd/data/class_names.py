"""Class lists (background excluded) from a config list, a names file or a YOLO ``data.yaml``."""

from __future__ import annotations

import os
from collections.abc import Sequence

__all__ = ["CLASS_FILE_SUFFIXES", "load_class_names"]

CLASS_FILE_SUFFIXES = (".txt", ".names", ".yaml", ".yml")  # one name per line; or YOLO data.yaml


def _yaml_names(path: str) -> list[str]:
    """``names`` of a YOLO ``data.yaml``: a list, or a mapping ``{0: name, 1: name, ...}``."""
    import yaml

    with open(path, encoding="utf-8") as f:
        try:
            data = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise ValueError(f"{path}: invalid YAML: {e}") from e
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict):
        keys = sorted(names)
        if keys != list(range(len(keys))):
            raise ValueError(f"{path}: 'names' keys must be the class indices 0..{len(keys) - 1}, got {keys}")
        names = [names[k] for k in keys]
    if not isinstance(names, list):
        raise ValueError(f"{path}: no 'names' list or mapping (a YOLO data.yaml names its classes there)")
    return [str(n) for n in names]


def load_class_names(spec: Sequence[str] | str) -> list[str]:
    """Class names from a list, a file, or a one-item list of such a file.

    A file is a text file with one name per line (``.txt``, darknet ``.names``; ``#`` lines skipped)
    or a YOLO ``data.yaml`` (its ``names``). Raises ``ValueError`` for duplicates, an empty list or a
    bad YAML, ``FileNotFoundError`` for a missing file.
    """
    if not isinstance(spec, str) and len(spec) == 1 and str(spec[0]).endswith(CLASS_FILE_SUFFIXES):
        spec = str(spec[0])
    if isinstance(spec, str):
        if not os.path.isfile(spec):
            raise FileNotFoundError(f"class list file not found: {spec}")
        if spec.endswith((".yaml", ".yml")):
            names = _yaml_names(spec)
        else:
            with open(spec, encoding="utf-8") as f:
                names = [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
        source = spec
    else:
        names, source = [str(n) for n in spec], "the class list"
    if not names:
        raise ValueError(f"{source}: no class names")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{source}: duplicate class names {duplicates} in {names}")
    return names
