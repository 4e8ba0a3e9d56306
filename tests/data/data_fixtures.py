"""Writers of hand-made VOC datasets for the data tests (imported by conftest and tests)."""

from __future__ import annotations

import os

import cv2
import numpy as np


def write_jpeg(path: str, height: int, width: int, value: int = 128) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(path, np.full((height, width, 3), value, dtype=np.uint8))


def voc_object(name: str, box: tuple, difficult: int = 0) -> str:
    xmin, ymin, xmax, ymax = box
    return (
        f"<object><name>{name}</name><difficult>{difficult}</difficult>"
        f"<bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox>"
        "</object>"
    )


def write_voc_image(root: str, image_id: str, objects: list[str], *, height=60, width=80, image=True) -> None:
    os.makedirs(os.path.join(root, "Annotations"), exist_ok=True)
    xml = (
        f"<annotation><filename>{image_id}.jpg</filename><size><width>{width}</width>"
        f"<height>{height}</height><depth>3</depth></size>{''.join(objects)}</annotation>"
    )
    with open(os.path.join(root, "Annotations", f"{image_id}.xml"), "w") as f:
        f.write(xml)
    if image:
        write_jpeg(os.path.join(root, "JPEGImages", f"{image_id}.jpg"), height, width)


def write_split(root: str, split: str, ids: list[str]) -> None:
    os.makedirs(os.path.join(root, "ImageSets", "Main"), exist_ok=True)
    with open(os.path.join(root, "ImageSets", "Main", f"{split}.txt"), "w") as f:
        f.write("\n".join(ids) + "\n")
