"""The dataset-format contract: one :class:`DatasetFormat` object per on-disk format, in one registry.

A format module (``datasets/voc.py``, ``coco.py``, ``yolo.py``) defines its dataset class and
registers one ``DatasetFormat`` next to it, so adding a format touches that one file (plus its
explicit import in ``datasets/__init__.py``, which fixes the registration order). Everything that
used to branch on the format name reads the object instead:

* the catalog checks an entry's keys against ``required_keys`` / ``optional_keys`` and resolves
  ``path_keys`` under the data root;
* the data builder calls ``build`` and, to name the classes without building, ``default_class_names``;
* the evaluator builder reads ``evaluator_kind`` (``TEST.EVALUATOR: auto``) from ``dataset.format``;
* results files map labels to category ids through ``dataset.label_to_category_id`` (``None`` for a
  format without category ids, whose results then use the label itself).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..utils.registry import Registry

__all__ = ["FORMATS", "DatasetFormat", "EVALUATOR_KINDS", "register_format"]

EVALUATOR_KINDS = ("voc", "coco")

# build(paths, *, class_names: list[str] | None, transform, training: bool, keep_difficult: bool,
#       keep_empty: bool, skip_corrupt: bool, allow_outside_root: bool) -> DetectionDataset;
#       class_names None = the format's default.
DatasetBuilder = Callable[..., Any]


@dataclass(frozen=True)
class DatasetFormat:
    """What the rest of the framework needs to know about one dataset format.

    ``paths`` given to ``build`` / ``default_class_names`` hold the catalog entry's keys (required and
    the optional ones present), paths already resolved.
    """

    name: str  # the catalog's FORMAT value
    required_keys: tuple[str, ...]  # catalog keys every entry of this format gives
    path_keys: tuple[str, ...]  # the keys (required or optional) that are file or folder paths
    evaluator_kind: str  # "voc" or "coco": what TEST.EVALUATOR "auto" evaluates this format with
    build: DatasetBuilder
    default_class_names: Callable[[Mapping[str, str]], list[str]]  # classes when the config names none
    optional_keys: tuple[str, ...] = ()
    description: str = ""  # one line for error messages and the README: the entry's shape

    def __post_init__(self) -> None:
        if self.evaluator_kind not in EVALUATOR_KINDS:
            raise ValueError(
                f"dataset format {self.name!r}: evaluator_kind = {self.evaluator_kind!r}; expected one of "
                f"{list(EVALUATOR_KINDS)}"
            )
        unknown = set(self.path_keys) - set(self.required_keys) - set(self.optional_keys)
        if unknown:
            raise ValueError(f"dataset format {self.name!r}: path_keys {sorted(unknown)} are not keys of the format")


FORMATS = Registry("dataset format")  # FORMAT of a catalog entry -> DatasetFormat


def register_format(fmt: DatasetFormat) -> DatasetFormat:
    """Add ``fmt`` to :data:`FORMATS` under ``fmt.name`` (a duplicate name raises ``KeyError``)."""
    FORMATS.register(fmt.name)(fmt)
    return fmt
