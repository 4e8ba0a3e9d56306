"""The class layout: which output is which class, which category id each label stands for in
results files, and how results name an image. One type carried by datasets, checkpoints,
predictors, exported graphs and evaluators (timm's model-carried data config is the pattern).

Label ``l`` (``1..K``, 0 is background) is ``class_names[l - 1]``. With ``label_to_category_id``
(a COCO or YOLO ground truth, or a model laid out by COCO category id as torchvision's 91-output
heads) results hold category ids and the dataset's own image id; without it (VOC-format sets,
whose image ids are strings such as ``"000005"`` that COCO tools cannot read) results hold the
label itself and the dataset *index* as ``image_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ClassLayout:
    """``class_names``: one name per foreground output (background excluded);
    ``label_to_category_id``: label -> category id, or ``None`` when the labels are the ids."""

    class_names: list[str]
    label_to_category_id: dict[int, int] | None = field(default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", [str(n) for n in self.class_names])
        if self.label_to_category_id is not None:
            mapping = {int(k): int(v) for k, v in self.label_to_category_id.items()}
            expected = set(range(1, len(self.class_names) + 1))
            if set(mapping) != expected:
                raise ValueError(
                    f"label_to_category_id has labels {sorted(mapping)}, expected 1..{len(self.class_names)}"
                )
            object.__setattr__(self, "label_to_category_id", mapping)

    @property
    def num_classes(self) -> int:
        """Outputs of the classification head, background included."""
        return len(self.class_names) + 1

    @property
    def has_category_ids(self) -> bool:
        """Whether results carry category ids and the dataset's image ids (see the module docstring)."""
        return self.label_to_category_id is not None

    def category_id(self, label: int) -> int:
        """The category id results give ``label`` (the label itself without a mapping)."""
        if self.label_to_category_id is None:
            return int(label)
        return self.label_to_category_id[int(label)]

    def labels_of_categories(self) -> dict[int, int]:
        """``{category id: label}``: how a results file's ``category_id`` reads back as a label."""
        if self.label_to_category_id is None:
            return {label: label for label in range(1, self.num_classes)}
        return {c: label for label, c in self.label_to_category_id.items()}

    def result_image_id(self, info: Mapping[str, Any]) -> Any:
        """How results name the image of ``info`` (``{"index", "image_id", ...}``, a dataset's
        image info): its image id with category ids, its dataset index without."""
        return info["image_id"] if self.has_category_ids else int(info["index"])

    def checkpoint_fields(self) -> dict[str, Any]:
        """``class_names`` and ``label_to_category_id`` as a checkpoint stores them."""
        mapping = dict(self.label_to_category_id) if self.label_to_category_id is not None else None
        return {"class_names": list(self.class_names), "label_to_category_id": mapping}

    @classmethod
    def from_checkpoint(cls, checkpoint: Mapping[str, Any]) -> ClassLayout | None:
        """The layout a checkpoint stores (``None`` when it stores no class names)."""
        names = checkpoint.get("class_names")
        if not names:
            return None
        return cls(list(names), checkpoint.get("label_to_category_id") or None)


def scoring_layout(model: ClassLayout, dataset: ClassLayout, *, name: str) -> tuple[ClassLayout, bool]:
    """The layout to score a model of layout ``model`` on a test set of layout ``dataset``
    (``name`` for errors), and whether it is the model's own.

    A model laid out by category id (a converted torchvision COCO model) on a set with category
    ids is matched by category id: its layout, as long as it predicts every category of the set.
    Otherwise the class lists must be equal and the set's layout is used. Raises ``ValueError``
    when the model cannot be scored on the set.
    """
    if model.has_category_ids and dataset.has_category_ids:
        missing = sorted(set(dataset.label_to_category_id.values()) - set(model.label_to_category_id.values()))
        if missing:
            raise ValueError(f"test set {name!r} has category ids {missing} that the model does not predict")
        return model, True
    if list(dataset.class_names) != list(model.class_names):
        raise ValueError(
            f"test set {name!r} has classes {list(dataset.class_names)} but the model was trained on "
            f"{list(model.class_names)}"
        )
    return dataset, False
