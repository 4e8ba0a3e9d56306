"""Throughput of the training pipelines on one core, JPEG decode included (for tools/benchmark.py)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from ..utils.timing import interleaved
from .image_io import read_image
from .transforms import TRAIN_PIPELINES

logger = logging.getLogger(__name__)

Sample = tuple[str, np.ndarray, np.ndarray]  # (image path, boxes float32 [N, 4] xyxy, labels int64 [N])


def samples_from_dataset(dataset, limit: int | None = None) -> list[Sample]:
    """``(path, boxes, labels)`` of a dataset's images that have at least one box."""
    out = []
    for index in range(len(dataset)):
        ann = dataset.get_annotation(index)
        if len(ann["boxes"]):
            out.append((dataset.get_img_info(index)["file_name"], ann["boxes"], ann["labels"]))
        if limit is not None and len(out) >= limit:
            break
    return out


def _pipeline(name: str, size: int, pixel_mean: Sequence[float]):
    if name == "torchvision_v2":
        from torchvision.transforms import v2

        # torchvision references/detection/presets.py "ssd" recipe, plus the resize to size x size.
        compose = v2.Compose(
            [
                v2.RandomPhotometricDistort(),
                v2.RandomZoomOut(fill=list(pixel_mean)),
                v2.RandomIoUCrop(),
                v2.RandomHorizontalFlip(p=0.5),
                v2.Resize((size, size), antialias=False),
                v2.SanitizeBoundingBoxes(),
            ]
        )
        from torchvision import tv_tensors

        def run(image, boxes, labels, *, rng):
            img = tv_tensors.Image(torch.from_numpy(image).permute(2, 0, 1))
            target = {
                "boxes": tv_tensors.BoundingBoxes(torch.from_numpy(boxes), format="XYXY", canvas_size=image.shape[:2]),
                "labels": torch.from_numpy(labels),
            }
            return compose(img, target)

        return run
    return TRAIN_PIPELINES.get(name)(size=size, pixel_mean=pixel_mean)


def measure_pipeline_throughput(
    samples: Sequence[Sample],
    *,
    variants: Sequence[str] = ("caffe", "lufficc", "ssdlite", "torchvision_v2"),
    image_size: int = 300,
    pixel_mean: Sequence[float] = (123.0, 117.0, 104.0),
    num_images: int = 100,
    rounds: int = 3,
    seed: int = 0,
) -> dict[str, float]:
    """Images per second of each variant on one thread: decode (OpenCV, BGR->RGB) + pipeline.

    Every variant sees the same ``num_images`` samples (cycled) in the same order, ``rounds`` times,
    the variants interleaved round by round; the best round counts (robust to other load on the
    machine). Names are entries of ``TRAIN_PIPELINES`` or ``"torchvision_v2"`` (torchvision's SSD
    preset: RandomPhotometricDistort, RandomZoomOut, RandomIoUCrop, flip, Resize; for reference).
    """
    if not samples:
        raise ValueError("measure_pipeline_throughput needs at least one (path, boxes, labels) sample")
    cv_threads, torch_threads = cv2.getNumThreads(), torch.get_num_threads()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        pipelines = {name: _pipeline(name, image_size, pixel_mean) for name in variants}
        rng = np.random.default_rng(seed)
        for pipeline in pipelines.values():
            for path, boxes, labels in samples[:5]:  # warm-up: caches, lazy imports
                pipeline(read_image(path), boxes, labels, rng=rng)

        def run(pipeline) -> None:
            for k in range(num_images):
                path, boxes, labels = samples[k % len(samples)]
                pipeline(read_image(path), boxes, labels, rng=rng)

        times = interleaved({name: functools.partial(run, p) for name, p in pipelines.items()},
                            rounds=rounds, calls=1, warmup=0)
    finally:
        cv2.setNumThreads(cv_threads)
        torch.set_num_threads(torch_threads)
    best = {name: num_images / min(t) for name, t in times.items()}
    for name, value in best.items():
        logger.info("%s: %.1f img/s", name, value)
    return best
