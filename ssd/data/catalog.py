"""Dataset names -> where the files are and which format reads them.

Built-in names resolve under a data root: ``VOC_ROOT`` (VOC names) or ``COCO_ROOT`` (COCO names)
when set in the environment, else ``DATASETS.ROOT``. Names declared in ``DATASETS.CATALOG`` take
precedence over built-in ones; their relative paths are taken as given (relative to the working
directory). An entry is ``{FORMAT, <the format's keys>[, CLASSES]}``: each registered
:class:`~ssd.data.formats.DatasetFormat` declares its keys (``voc``: ROOT, SPLIT; ``coco``: IMAGES,
ANNOTATIONS; ``yolo``: IMAGES[, LABELS]). ``CLASSES`` is a list of names, the path of a text file
with one name per line, or a YOLO ``data.yaml`` (its ``names``); background excluded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from . import datasets as _datasets  # noqa: F401  (imported for its side effect: registers the formats)
from .class_names import load_class_names  # noqa: F401  (re-exported: ssd.data.catalog.load_class_names)
from .formats import FORMATS

# Entries follow the layouts of lufficc/SSD (README "Setting up datasets") so its users'
# folders work unchanged; the synthetic ones are what tools/make_synthetic_dataset.py writes.
_VOC = "VOC_ROOT"
_COCO = "COCO_ROOT"
BUILTIN_DATASETS: dict[str, dict] = {
    "voc_2007_trainval": {"FORMAT": "voc", "ROOT": "VOC2007", "SPLIT": "trainval", "_ENV": _VOC},
    "voc_2007_test": {"FORMAT": "voc", "ROOT": "VOC2007", "SPLIT": "test", "_ENV": _VOC},
    "voc_2012_trainval": {"FORMAT": "voc", "ROOT": "VOC2012", "SPLIT": "trainval", "_ENV": _VOC},
    "coco_2014_train": {
        "FORMAT": "coco",
        "IMAGES": "train2014",
        "ANNOTATIONS": "annotations/instances_train2014.json",
        "_ENV": _COCO,
    },
    "coco_2014_valminusminival": {
        "FORMAT": "coco",
        "IMAGES": "val2014",
        "ANNOTATIONS": "annotations/instances_valminusminival2014.json",
        "_ENV": _COCO,
    },
    "coco_2014_minival": {
        "FORMAT": "coco",
        "IMAGES": "val2014",
        "ANNOTATIONS": "annotations/instances_minival2014.json",
        "_ENV": _COCO,
    },
    "coco_2017_train": {
        "FORMAT": "coco",
        "IMAGES": "train2017",
        "ANNOTATIONS": "annotations/instances_train2017.json",
        "_ENV": _COCO,
    },
    "coco_2017_val": {
        "FORMAT": "coco",
        "IMAGES": "val2017",
        "ANNOTATIONS": "annotations/instances_val2017.json",
        "_ENV": _COCO,
    },
    "synthetic_voc_trainval": {
        "FORMAT": "voc",
        "ROOT": "synthetic_voc",
        "SPLIT": "trainval",
        "CLASSES": "synthetic_voc/classes.txt",
    },
    "synthetic_voc_test": {
        "FORMAT": "voc",
        "ROOT": "synthetic_voc",
        "SPLIT": "test",
        "CLASSES": "synthetic_voc/classes.txt",
    },
    "synthetic_coco_train": {
        "FORMAT": "coco",
        "IMAGES": "synthetic_coco/train",
        "ANNOTATIONS": "synthetic_coco/annotations/instances_train.json",
    },
    "synthetic_coco_test": {
        "FORMAT": "coco",
        "IMAGES": "synthetic_coco/test",
        "ANNOTATIONS": "synthetic_coco/annotations/instances_test.json",
    },
    "synthetic_yolo_train": {"FORMAT": "yolo", "IMAGES": "synthetic_yolo/images/train"},
    "synthetic_yolo_val": {"FORMAT": "yolo", "IMAGES": "synthetic_yolo/images/val"},
}



@dataclass(frozen=True)
class DatasetSpec:
    """A resolved catalog entry: absolute paths, the format, and the class list if declared."""

    name: str
    format: str
    paths: dict[str, str]  # the format's keys given in the entry (DatasetFormat.required/optional_keys)
    classes: tuple[str, ...] | str | None  # names, a file path, or None (dataset default)


def resolve_dataset(name: str, *, catalog: Mapping, data_root: str) -> DatasetSpec:
    """Look ``name`` up in ``catalog`` (``DATASETS.CATALOG``), then among the built-in names.

    Raises ``KeyError`` listing the known names, ``ValueError`` for an incomplete entry.
    """
    if name in catalog:
        entry, root = {str(k).upper(): v for k, v in dict(catalog[name]).items()}, None
    elif name in BUILTIN_DATASETS:
        entry = dict(BUILTIN_DATASETS[name])
        root = os.environ.get(entry.pop("_ENV", ""), "") or data_root
    else:
        known = sorted(set(BUILTIN_DATASETS) | set(catalog))
        raise KeyError(f"unknown dataset {name!r}; declare it in DATASETS.CATALOG or use one of {known}")
    fmt = str(entry.get("FORMAT", "")).lower()
    if fmt not in FORMATS:
        raise ValueError(f"dataset {name!r}: FORMAT = {entry.get('FORMAT')!r}; expected one of {list(FORMATS)}")
    spec_format = FORMATS.get(fmt)
    missing = [k for k in spec_format.required_keys if not entry.get(k)]
    if missing:
        raise ValueError(
            f"dataset {name!r} ({fmt}): missing {missing} in its catalog entry {entry}; "
            f"expected {spec_format.description}"
        )
    known = {"FORMAT", "CLASSES", *spec_format.required_keys, *spec_format.optional_keys}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ValueError(
            f"dataset {name!r} ({fmt}): unknown keys {unknown} in its catalog entry; expected {spec_format.description}"
        )

    def place(path: str) -> str:
        path = os.path.expanduser(str(path))
        return path if root is None or os.path.isabs(path) else os.path.join(root, path)

    given = [k for k in (*spec_format.required_keys, *spec_format.optional_keys) if entry.get(k)]
    paths = {k: place(entry[k]) if k in spec_format.path_keys else str(entry[k]) for k in given}
    classes = entry.get("CLASSES")
    if isinstance(classes, str):
        classes = place(classes)
    elif classes is not None:
        classes = tuple(str(c) for c in classes)
    return DatasetSpec(name=name, format=fmt, paths=paths, classes=classes or None)
