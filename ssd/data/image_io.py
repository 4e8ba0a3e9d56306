"""Image decoding: OpenCV, converted BGR -> RGB exactly once, here."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

# OpenCV's own thread pool does not survive fork(): a loader worker forked after the parent used it
# can hang inside OpenCV. Loader workers are the parallelism, so OpenCV runs single-threaded
# (detectron2 and mmcv do the same).
cv2.setNumThreads(0)

__all__ = ["CorruptImageError", "read_image", "read_image_size"]


class CorruptImageError(OSError):
    """An image file that is missing, unreadable or cannot be decoded."""


def read_image(path: str) -> np.ndarray:
    """Decode ``path`` to a uint8 ``[H, W, 3]`` RGB array; raise :class:`CorruptImageError` naming it."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise CorruptImageError(f"cannot read image {path}: {e}") from e
    # Stored pixel order, EXIF orientation ignored: VOC / COCO boxes refer to the stored pixels (as
    # PIL's Image.open in lufficc/SSD and torchvision's references reads them).
    image = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION) if data.size else None
    if image is None:
        raise CorruptImageError(f"cannot decode image (unreadable or corrupt): {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_image_size(path: str) -> tuple[int, int]:
    """``(height, width)`` of the stored pixels of ``path`` from its header, without decoding it.

    EXIF orientation is ignored, as in :func:`read_image`. Raises :class:`CorruptImageError` naming
    the file when it cannot be opened or identified.
    """
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, UnidentifiedImageError) as e:
        raise CorruptImageError(f"cannot read the size of image {path}: {e}") from e
    return int(height), int(width)
