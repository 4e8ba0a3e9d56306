"""Several datasets trained as one (VOC07+12), forwarding ``(index, seed)`` keys."""

from __future__ import annotations

import bisect

from torch.utils.data import Dataset

from ..class_layout import ClassLayout
from .base import DetectionDataset


class ConcatDetectionDataset(Dataset):
    """Concatenation of detection datasets that share one class list.

    Raises ``ValueError`` quoting both lists when two datasets disagree on the class names.
    ``info["index"]`` of an item is its index in the concatenation.
    """

    def __init__(self, datasets: list[DetectionDataset], *, names: list[str] | None = None) -> None:
        if not datasets:
            raise ValueError("ConcatDetectionDataset needs at least one dataset")
        names = names or [str(i) for i in range(len(datasets))]
        for name, ds in zip(names[1:], datasets[1:], strict=False):
            if list(ds.class_names) != list(datasets[0].class_names):
                raise ValueError(
                    f"datasets {names[0]!r} and {name!r} have different class lists: "
                    f"{list(datasets[0].class_names)} vs {list(ds.class_names)}"
                )
        self.datasets = datasets
        self.class_names = list(datasets[0].class_names)
        self._ends = []
        total = 0
        for ds in datasets:
            total += len(ds)
            self._ends.append(total)

    def __len__(self) -> int:
        return self._ends[-1]

    @property
    def format(self):
        """The parts' shared :class:`~ssd.data.formats.DatasetFormat`; ``ValueError`` when they differ."""
        names = sorted({ds.format.name for ds in self.datasets})
        if len(names) > 1:
            raise ValueError(f"the concatenated datasets have different formats {names}")
        return self.datasets[0].format

    @property
    def label_to_category_id(self) -> dict[int, int] | None:
        """The parts' shared label -> category id mapping, ``None`` when they have none or differ."""
        first = self.datasets[0].label_to_category_id
        return first if all(ds.label_to_category_id == first for ds in self.datasets) else None

    @property
    def class_layout(self) -> ClassLayout:
        """The parts' shared class layout (:mod:`ssd.data.class_layout`)."""
        return ClassLayout(self.class_names, self.label_to_category_id)

    def _locate(self, index: int) -> tuple[DetectionDataset, int, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} images")
        k = bisect.bisect_right(self._ends, index)
        offset = self._ends[k - 1] if k else 0
        return self.datasets[k], index - offset, offset

    def get_img_info(self, index: int) -> dict:
        ds, local, _ = self._locate(index)
        return ds.get_img_info(local)

    def get_annotation(self, index: int) -> dict:
        ds, local, _ = self._locate(index)
        return ds.get_annotation(local)

    def __getitem__(self, key):
        index, seed = (key[0], key[1]) if isinstance(key, tuple) else (key, None)
        ds, local, offset = self._locate(int(index))
        image, target, info = ds[(local, seed) if seed is not None else local]
        info["index"] += offset
        return image, target, info
