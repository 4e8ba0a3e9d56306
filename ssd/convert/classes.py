"""The class layouts of converted checkpoints (VOC, COCO-80); the type is
:class:`ssd.data.class_layout.ClassLayout`."""

from __future__ import annotations

from ..data.class_layout import ClassLayout

# lufficc/SSD's VOC order (ssd/data/datasets/voc.py there), background excluded: label l is entry l-1.
VOC_CLASS_NAMES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
)


def voc_layout() -> ClassLayout:
    return ClassLayout(class_names=list(VOC_CLASS_NAMES))


def torchvision_coco_layout() -> ClassLayout:
    """torchvision's 91-output COCO layout: 90 foreground names ("N/A" where COCO has no
    category), label ``l`` = COCO category id ``l``. Names come from torchvision's weights meta."""
    from torchvision.models.detection import SSD300_VGG16_Weights

    names = list(SSD300_VGG16_Weights.COCO_V1.meta["categories"])[1:]  # drop "__background__"
    return ClassLayout(class_names=names, label_to_category_id={i: i for i in range(1, len(names) + 1)})


def coco80_layout() -> ClassLayout:
    """The 80 COCO categories as contiguous labels 1..80 in increasing category id (lufficc/SSD's
    ``coco_id_to_contiguous_id``, Detectron's order), mapped back to their category ids."""
    coco91 = torchvision_coco_layout()
    used = [(cat, name) for cat, name in enumerate(coco91.class_names, start=1) if name != "N/A"]
    return ClassLayout(
        class_names=[name for _, name in used],
        label_to_category_id={label: cat for label, (cat, _) in enumerate(used, start=1)},
    )
