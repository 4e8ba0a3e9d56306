"""Image decoding: OpenCV, converted BGR -> RGB exactly once, here."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# OpenCV's own thread pool does not survive fork(): a loader worker forked after the parent used it
# can hang inside OpenCV. Loader workers are the parallelism, so OpenCV runs single-threaded
# (detectron2 and mmcv do the same).
cv2.setNumThreads(0)

__all__ = ["CorruptImageError", "pil_to_rgb", "read_image", "read_image_size"]


class CorruptImageError(OSError):
    """An image file that is missing, unreadable or cannot be decoded."""


def read_image(path: str, *, exif_orientation: bool = False) -> np.ndarray:
    """Decode ``path`` to a uint8 ``[H, W, 3]`` RGB array; raise :class:`CorruptImageError` naming it.

    ``exif_orientation=False`` (datasets): the stored pixel grid, which VOC / COCO boxes refer to.
    ``True`` (the Predictor and the demo on a user's photos): turned upright as the EXIF
    orientation tag says, as a photo viewer shows it. 16-bit images keep their high byte.
    """
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise CorruptImageError(f"cannot read image {path}: {e}") from e
    # Stored pixel order, EXIF orientation ignored: VOC / COCO boxes refer to the stored pixels (as
    # PIL's Image.open in lufficc/SSD and torchvision's references reads them).
    flags = cv2.IMREAD_COLOR if exif_orientation else cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    image = cv2.imdecode(data, flags) if data.size else None
    if image is None:
        raise CorruptImageError(f"cannot decode image (unreadable or corrupt): {path}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise CorruptImageError(f"image {path} has no pixels (size {image.shape[1]}x{image.shape[0]})")
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


def pil_to_rgb(image: Image.Image, *, exif_orientation: bool = True) -> np.ndarray:
    """A PIL image as uint8 ``[H, W, 3]`` RGB, the pixels :func:`read_image` gives for the same file.

    16-bit and 32-bit integer modes (``I;16*``, ``I``) keep their high byte (``value >> 8``, as
    OpenCV decodes a 16-bit PNG); PIL's own ``convert("RGB")`` would clip them to 255 (white).
    Float images (mode ``F``) have no 0-255 scale and are refused with ``ValueError``. With
    ``exif_orientation`` the image is first turned upright as its EXIF orientation tag says.
    """
    if exif_orientation:
        image = ImageOps.exif_transpose(image)
    if image.mode == "F":
        raise ValueError("a float PIL image (mode F) has no 0-255 scale: convert it to 8-bit (mode L or RGB) first")
    if image.mode.startswith("I"):  # I;16, I;16B, I;16L, I;16N, I (int32)
        grey = (np.clip(np.asarray(image).astype(np.int64), 0, 65535) >> 8).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    return np.asarray(image.convert("RGB"))
