"""Configuration: defaults, YAML loading with ``_BASE_``, overrides and validation."""

from .defaults import _C as _DEFAULTS  # noqa: F401  (kept importable for docs tooling)
from .loading import (
    DEPRECATED_KEYS,
    get_cfg,
    load_config,
    load_config_text,
    load_yaml_with_bases,
    rename_deprecated_keys,
)
from .validation import resolve_device, validate_config

__all__ = [
    "DEPRECATED_KEYS", "get_cfg", "load_config", "load_config_text", "load_yaml_with_bases", "rename_deprecated_keys",
    "resolve_device", "validate_config",
]
