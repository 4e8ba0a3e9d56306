"""Using a trained model: ``Predictor.from_checkpoint(path_or_url)`` then ``predictor(image)``.

::

    from ssd import Predictor
    predictor = Predictor.from_checkpoint("outputs/quickstart/model_best.pth")
    result = predictor("demo/demo_000.jpg")   # result.boxes, .scores, .labels, .names, .plot(), .to_json()

Inputs: a path (decoded by :func:`ssd.data.read_image`, the training decoder, turned upright as its
EXIF orientation says, as a phone photo is shown), a uint8 numpy array
``[H, W, 3]`` in **BGR** order by default (OpenCV's ``cv2.imread`` / ``VideoCapture``; pass
``channels="rgb"`` for RGB arrays), grey ``[H, W]`` or 4-channel arrays, a PIL image, or a list
of any of these (batched). One input gives one :class:`Detections`, a list gives a list.

Test-time transform: the test pipeline's resize to ``S x S`` (no aspect-ratio padding) by
``resize_mode`` (``INPUT.RESIZE_MODE``: uint8 RGB ``Tensor[B, 3, S, S]`` for ``"opencv"``, float32
0-255 for ``"tf_bilinear"``); the model normalises internally. Boxes come back xyxy in original
pixels.

Backends: anything with the call contract of the torch model in eval mode, ``backend(images:
Tensor[B, 3, S, S] RGB 0-255 on the predictor's device) -> list of {"boxes" [K, 4] xyxy input pixels,
"scores" [K], "labels" [K]}`` (an ONNX Runtime session wrapped to that contract, for instance).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import torch
from torch import Tensor, nn

from ..checkpoint.loading import (
    checkpoint_class_names,
    checkpoint_layout,
    detector_from_checkpoint,
    resolve_checkpoint_config,
)
from ..config import resolve_device
from ..data.class_layout import ClassLayout
from ..data.image_io import pil_to_rgb, read_image
from ..data.transforms import ResizeTransform
from ..visualization.draw import draw_detections
from .inference import rescale_boxes

# backend(Tensor[B, 3, S, S] 0-255, uint8 or float32)
#   -> [{"boxes": Tensor[K, 4] xyxy input pixels, "scores": [K], "labels": [K]}]
Backend = Callable[[Tensor], Sequence[dict[str, Tensor]]]
ImageInput = Union[str, "os.PathLike[str]", np.ndarray, Any]  # Any: a PIL.Image.Image
CHANNELS = ("bgr", "rgb")

__all__ = ["Backend", "Detections", "Predictor", "checkpoint_class_names", "to_rgb"]


@dataclass
class Detections:
    """The detections of one image.

    ``boxes``: float32 ``[K, 4]`` xyxy in original image pixels; ``scores``: float32 ``[K]``;
    ``labels``: int64 ``[K]`` in ``1..C`` (label ``l`` is ``class_names[l - 1]``); ``image``: the
    uint8 ``[H, W, 3]`` RGB image predicted on; ``source``: its path, when it came from a file.
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    image: np.ndarray
    source: str | None = None

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def names(self) -> list[str]:
        """The class name of each detection."""
        return [self.class_names[int(label) - 1] for label in self.labels]

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    def plot(self, *, channels: str = "bgr") -> np.ndarray:
        """A copy of the image with the detections drawn, uint8 ``[H, W, 3]`` in ``channels`` order
        (BGR by default, for ``cv2.imwrite``; ``"rgb"`` for PIL / matplotlib)."""
        _check_channels(channels)
        bgr = np.ascontiguousarray(self.image[..., ::-1])
        out = draw_detections(bgr, boxes=self.boxes, scores=self.scores, labels=self.labels,
                              class_names=self.class_names)
        return out if channels == "bgr" else np.ascontiguousarray(out[..., ::-1])

    def to_dict(self) -> dict[str, Any]:
        """``{"file_name", "height", "width", "detections": [{"box": xyxy, "score", "label",
        "class_name"}]}`` (what the demo's ``detections.json`` lists per image)."""
        return {
            "file_name": os.path.basename(self.source) if self.source else None,
            "height": self.height,
            "width": self.width,
            "detections": [
                {"box": [round(float(v), 2) for v in box], "score": round(float(score), 4), "label": int(label),
                 "class_name": name}
                for box, score, label, name in zip(self.boxes, self.scores, self.labels, self.names, strict=True)
            ],
        }

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as JSON text (``kwargs`` go to ``json.dumps``)."""
        return json.dumps(self.to_dict(), **kwargs)


def _check_channels(channels: str) -> None:
    if channels not in CHANNELS:
        raise ValueError(f"channels = {channels!r}; expected one of {CHANNELS}")


def to_rgb(image: ImageInput, *, channels: str = "bgr") -> tuple[np.ndarray, str | None]:
    """``(uint8 [H, W, 3] RGB, path or None)`` for a path, a numpy array in ``channels`` order
    (grey ``[H, W]`` and 4-channel arrays accepted) or a PIL image."""
    _check_channels(channels)
    if isinstance(image, str | os.PathLike):
        path = os.fspath(image)
        return read_image(path, exif_orientation=True), path
    if hasattr(image, "convert") and hasattr(image, "size") and not isinstance(image, np.ndarray):  # PIL
        return _nonempty(pil_to_rgb(image)), None
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected a path, a numpy array or a PIL image, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {image.dtype} (scale 0-1 floats by 255 first)")
    _nonempty(image)
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2), None
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"expected an image [H, W, 3] (or [H, W] / [H, W, 4]), got shape {image.shape}")
    image = image[..., :3]  # drop alpha
    return np.ascontiguousarray(image[..., ::-1] if channels == "bgr" else image), None


def _nonempty(image: np.ndarray) -> np.ndarray:
    if image.ndim >= 2 and (image.shape[0] == 0 or image.shape[1] == 0):
        raise ValueError(f"the image has no pixels (shape {image.shape}): nothing to detect in")
    return image


class Predictor:
    """``predictor(image or [images], channels="bgr") -> Detections or [Detections]``.

    ``backend`` follows the contract in the module doc; ``image_size`` is its square input side;
    ``class_layout`` (or just ``class_names``) what its labels are (:class:`~ssd.data.ClassLayout`);
    ``resize_mode`` the test-time resize (``INPUT.RESIZE_MODE``, see :mod:`ssd.data.transforms.resize`);
    ``score_threshold`` drops weaker detections; ``batch_size`` bounds the images per backend call.
    """

    def __init__(
        self,
        *,
        backend: Backend,
        image_size: int,
        class_names: Sequence[str] | None = None,
        class_layout: ClassLayout | None = None,
        device: torch.device | str = "cpu",
        score_threshold: float = 0.5,
        batch_size: int = 8,
        resize_mode: str = "opencv",
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size = {batch_size}; expected >= 1")
        if (class_names is None) == (class_layout is None):
            raise ValueError("pass one of class_names and class_layout")
        self.device = torch.device(device)
        if isinstance(backend, nn.Module):
            backend = backend.eval().to(self.device)
        self.backend = backend
        self.image_size = int(image_size)
        self.class_layout = class_layout if class_layout is not None else ClassLayout(list(class_names or []))
        self.score_threshold = float(score_threshold)
        self.batch_size = int(batch_size)
        self.resize_mode = resize_mode
        self._resize = ResizeTransform(size=self.image_size, mode=resize_mode)

    @property
    def class_names(self) -> list[str]:
        """Label ``l`` is ``class_names[l - 1]``."""
        return list(self.class_layout.class_names)

    @classmethod
    def from_checkpoint(
        cls,
        path_or_url: str,
        *,
        device: str = "auto",
        config_file: str | None = None,
        opts: Sequence[str] = (),
        backend: str | Backend = "torch",
        score_threshold: float = 0.5,
        batch_size: int = 8,
    ) -> Predictor:
        """A predictor for a checkpoint file or URL (downloaded once, see
        :mod:`ssd.utils.download`): the model is built from the config and class names the
        checkpoint stores (``config_file`` / ``opts`` win when given), the resize too
        (``INPUT.RESIZE_MODE``).

        ``device``: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda:1"``, ...; ``backend``:
        ``"torch"`` (the checkpoint's weights in this framework's model) or an object with the
        backend contract (the checkpoint then supplies only the input size and class names).
        """
        # ``device`` over the stored config, the caller's MODEL.DEVICE override over ``device``
        checkpoint, cfg = resolve_checkpoint_config(path_or_url, config_file=config_file,
                                                    opts=["MODEL.DEVICE", device, *opts])
        layout = checkpoint_layout(checkpoint, cfg, source=path_or_url)
        if backend == "torch":
            backend = detector_from_checkpoint(checkpoint, cfg, source=path_or_url).model
        elif isinstance(backend, str):
            raise ValueError(f"backend = {backend!r}; expected 'torch' or an object with the backend contract")
        return cls(backend=backend, image_size=cfg.INPUT.IMAGE_SIZE, class_layout=layout,
                   device=resolve_device(cfg.MODEL.DEVICE), score_threshold=score_threshold, batch_size=batch_size,
                   resize_mode=cfg.INPUT.RESIZE_MODE)

    @classmethod
    def from_onnx(cls, path: str, *, providers: Sequence[str] | None = None, score_threshold: float = 0.5,
                  batch_size: int = 8) -> Predictor:
        """A predictor running a ``tools/export.py`` file in ONNX Runtime (CPU unless ``providers``
        say otherwise); input size, resize (``ssd.input``) and class names come from the file's metadata."""
        from ..export.runtime import OnnxRuntimeDetector

        detector = OnnxRuntimeDetector(path, providers=providers)
        return cls(backend=detector, image_size=detector.image_size, class_layout=detector.class_layout,
                   device="cpu", score_threshold=score_threshold, batch_size=batch_size,
                   resize_mode=detector.resize_mode)

    def __call__(
        self, images: ImageInput | list[ImageInput], *, channels: str = "bgr"
    ) -> Detections | list[Detections]:
        if isinstance(images, list | tuple):
            decoded = [to_rgb(image, channels=channels) for image in images]
            return self.predict_rgb([rgb for rgb, _ in decoded], sources=[src for _, src in decoded])
        rgb, source = to_rgb(images, channels=channels)
        return self.predict_rgb([rgb], sources=[source])[0]

    @torch.no_grad()
    def predict_rgb(
        self, images: Sequence[np.ndarray], *, sources: Sequence[str | None] | None = None
    ) -> list[Detections]:
        """Detections for uint8 ``[H, W, 3]`` RGB arrays, ``batch_size`` per backend call."""
        sources = list(sources) if sources is not None else [None] * len(images)
        results: list[Detections] = []
        no_boxes, no_labels = np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
        for start in range(0, len(images), self.batch_size):
            chunk = images[start:start + self.batch_size]
            batch = torch.stack([self._resize(rgb, no_boxes, no_labels)[0] for rgb in chunk]).to(self.device)
            outputs = self.backend(batch)
            for rgb, source, out in zip(chunk, sources[start:start + len(chunk)], outputs, strict=True):
                keep = out["scores"] >= self.score_threshold
                boxes = rescale_boxes(out["boxes"][keep].float().cpu(), input_size=self.image_size,
                                      height=rgb.shape[0], width=rgb.shape[1])
                results.append(Detections(
                    boxes=boxes.numpy(), scores=out["scores"][keep].float().cpu().numpy(),
                    labels=out["labels"][keep].cpu().numpy().astype(np.int64), class_names=self.class_names,
                    image=rgb, source=source,
                ))
        return results

