"""What every detection dataset shares: records parsed once, lazy image decoding, transforms.

A dataset holds one :class:`ImageRecord` per image, parsed and validated at construction, so bad
annotations fail before training starts. Images are decoded only in ``__getitem__``.
Boxes follow the convention of :mod:`ssd.data.boxes` (xyxy float32, continuous pixels).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch.utils.data import Dataset

from ..class_layout import ClassLayout
from ..formats import FORMATS, DatasetFormat
from ..image_io import CorruptImageError, read_image

logger = logging.getLogger(__name__)

# A training transform: (RGB uint8 [H, W, 3], boxes float32 [N, 4] xyxy, labels int64 [N], rng)
# -> (image Tensor[3, S, S], boxes float32 Tensor[M, 4] in network-input pixels, labels Tensor[M]).
Transform = Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]]

MAX_CORRUPT_REPLACEMENTS = 10  # consecutive unreadable images tolerated before giving up


@dataclass
class ImageRecord:
    """One image and all its objects, in original image pixels."""

    path: str  # absolute or root-relative path of the image file
    image_id: int | str
    height: int
    width: int
    boxes: np.ndarray  # float32 [N, 4] xyxy
    labels: np.ndarray  # int64 [N], 1..K
    difficult: np.ndarray  # bool [N]; VOC difficult, COCO iscrowd


class DetectionDataset(Dataset):
    """Base class: indexing by ``int`` or by ``(index, seed)`` from the training sampler.

    The seed makes augmentation a pure function of the sampler's output, so a resumed or
    multi-worker run draws exactly the same augmentations as an uninterrupted one.

    ``__getitem__`` returns ``(image Tensor[3, S, S], {"boxes": float32 Tensor[N, 4],
    "labels": int64 Tensor[N]}, info)`` with ``info = {index, image_id, file_name, height, width}``
    (original size).

    A subclass names its registered format (``format_name``); ``label_to_category_id`` maps labels
    ``1..K`` to the format's category ids (``None`` when the format has none, as VOC).
    """

    format_name: ClassVar[str]
    label_to_category_id: dict[int, int] | None = None

    def __init__(
        self,
        *,
        records: list[ImageRecord],
        class_names: list[str],
        transform: Transform | None = None,
        training: bool = False,
        keep_difficult: bool = False,
        keep_empty: bool = True,
        skip_corrupt: bool = False,
    ) -> None:
        self.class_names = list(class_names)
        self.transform = transform
        self.training = training
        self.keep_difficult = keep_difficult
        self.skip_corrupt = skip_corrupt
        if training and not keep_empty:
            # Images left with no target after removing difficult objects teach nothing to the
            # box regressor; lufficc/SSD drops them too. TRAIN_EMPTY_IMAGES keeps them.
            kept = [r for r in records if self._target_mask(r).any()]
            if len(kept) < len(records):
                logger.info("dropped %d training images without targets", len(records) - len(kept))
            records = kept
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    @property
    def format(self) -> DatasetFormat:
        """The registered :class:`~ssd.data.formats.DatasetFormat` this dataset was read in."""
        return FORMATS.get(self.format_name)

    @property
    def class_layout(self) -> ClassLayout:
        """Class names, label -> category id and how results name an image (:mod:`ssd.data.class_layout`)."""
        return ClassLayout(self.class_names, self.label_to_category_id)

    def get_img_info(self, index: int) -> dict:
        r = self.records[index]
        return {"height": r.height, "width": r.width, "file_name": r.path, "image_id": r.image_id}

    def get_annotation(self, index: int) -> dict:
        """All objects of image ``index`` in original pixels, difficult / crowd ones flagged."""
        r = self.records[index]
        return {"boxes": r.boxes.copy(), "labels": r.labels.copy(), "difficult": r.difficult.copy()}

    def _target_mask(self, record: ImageRecord) -> np.ndarray:
        if self.training and not self.keep_difficult:
            return ~record.difficult
        return np.ones(len(record.labels), dtype=bool)

    def __getitem__(self, key: int | tuple[int, int]):
        index, seed = (int(key[0]), int(key[1])) if isinstance(key, tuple) else (int(key), None)
        rng = np.random.default_rng(seed)
        image = None
        for _ in range(MAX_CORRUPT_REPLACEMENTS + 1):
            try:
                image = read_image(self.records[index].path)
                break
            except CorruptImageError as e:
                if not self.skip_corrupt:
                    raise
                replacement = int(rng.integers(len(self.records)))
                logger.warning("%s; replaced by sample %d (INPUT.SKIP_CORRUPT_IMAGES)", e, replacement)
                index = replacement
        if image is None:
            raise CorruptImageError(
                f"{MAX_CORRUPT_REPLACEMENTS + 1} unreadable images in a row; last: {self.records[index].path}"
            )
        record = self.records[index]
        if image.shape[:2] != (record.height, record.width):
            logger.warning(
                "%s is %dx%d but its annotation says %dx%d; boxes may be misplaced",
                record.path,
                image.shape[1],
                image.shape[0],
                record.width,
                record.height,
            )
        mask = self._target_mask(record)
        boxes, labels = record.boxes[mask], record.labels[mask]
        if self.transform is not None:
            image_t, boxes_t, labels_t = self.transform(image, boxes, labels, rng=rng)
        else:
            image_t = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
            boxes_t, labels_t = torch.from_numpy(boxes.copy()), torch.from_numpy(labels.copy())
        info = {"index": index, **self.get_img_info(index)}
        return image_t, {"boxes": boxes_t, "labels": labels_t}, info


def check_files_exist(paths: list[str], *, what: str, source: str, exists: Callable[[str], bool]) -> None:
    """Raise ``FileNotFoundError`` listing the first few of ``paths`` that do not exist."""
    missing = [p for p in paths if not exists(p)]
    if missing:
        shown = "\n  ".join(missing[:5])
        more = f"\n  ... and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise FileNotFoundError(f"{source}: {len(missing)} {what} missing:\n  {shown}{more}")


def check_inside_root(image_dir: str, file_name: str, *, source: str, allow_outside_root: bool = False) -> str:
    """``image_dir/file_name``; ``ValueError`` naming ``source`` when ``file_name`` is absolute or
    climbs out of ``image_dir`` (by its text: links inside the folder are the user's own choice),
    unless ``allow_outside_root``."""
    parts = os.path.normpath(file_name).split(os.sep)
    if not allow_outside_root and (os.path.isabs(file_name) or parts[0] == ".."):
        raise ValueError(f"{source}: file_name {file_name!r} lies outside the image folder {image_dir}; "
                         "move the image into it, or set DATASETS.ALLOW_OUTSIDE_ROOT True to read it anyway")
    return os.path.join(image_dir, file_name)
