#!/usr/bin/env python
"""Look at the data before training on it: image grids with boxes and class names.

    python tools/visualize_data.py --config-file CFG --split train --num 32 --output DIR [KEY VALUE ...]
    python tools/visualize_data.py --config-file CFG --split test --num 32 --output DIR [--dataset NAME]

``--split train`` draws what the training loader yields: DATASETS.TRAIN after the training
augmentation (INPUT.AUGMENTATION), boxes in network-input pixels, the first batches of the run
(same SEED, same images and augmentations as training's first iterations). ``--split test`` draws
the ground truth as loaded, in original pixels, of DATASETS.TEST[0] (or ``--dataset``); difficult /
crowd objects are captioned ``"<class> (difficult)"``. Grids go to
``DIR/<split>_grid_<k>.jpg``, each tile with the image's file name underneath (detectron2's
``tools/visualize_data.py`` is the model).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

# cv2, numpy, torch and the ssd data modules are imported where they are used, so that
# 'ssd visualize --help' answers without them
from ssd.tools.args import add_overrides, entry_point, parse_args
from ssd.utils.logger import setup_logger

if TYPE_CHECKING:
    import numpy as np
    import torch

    Sample = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]  # BGR, boxes, labels, difficult, name

logger = logging.getLogger("ssd.tools.visualize_data")

NAME_STRIP = 18  # pixels under each tile for the file name


def to_bgr_uint8(image: torch.Tensor) -> np.ndarray:
    """A loader image ``Tensor[3, S, S]`` RGB (uint8, or float32 0-255 unclipped for the lufficc
    pipeline; the model does the mean / std normalisation) -> ``uint8 [S, S, 3]`` BGR."""
    import numpy as np

    array = image.detach().cpu().numpy().transpose(1, 2, 0)
    if array.dtype != np.uint8:
        array = np.clip(np.rint(array), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(array[..., ::-1])


def train_samples(cfg, num: int) -> Iterator[Sample]:
    """The first ``num`` images of the training loader, as augmented."""
    import numpy as np

    from ssd.data import build_train_loader

    loader = build_train_loader(cfg)
    count = 0
    for images, targets, infos in loader:
        for image, target, info in zip(images, targets, infos, strict=True):
            if count == num:
                return
            boxes = target["boxes"].numpy().reshape(-1, 4)
            yield (to_bgr_uint8(image), boxes, target["labels"].numpy(), np.zeros(len(boxes), bool),
                   os.path.basename(str(info["file_name"])))
            count += 1


def test_samples(dataset, num: int) -> Iterator[Sample]:
    """The first ``num`` images of a dataset with their annotations as loaded (original pixels)."""
    import numpy as np

    from ssd.data import read_image

    for i in range(min(num, len(dataset))):
        info, ann = dataset.get_img_info(i), dataset.get_annotation(i)
        image = np.ascontiguousarray(read_image(info["file_name"])[..., ::-1])
        yield image, ann["boxes"], ann["labels"], ann["difficult"], os.path.basename(str(info["file_name"]))


def render_tile(sample: Sample, *, class_names: Sequence[str], cell: int) -> np.ndarray:
    """One BGR tile, ``cell + NAME_STRIP`` high and ``cell`` wide: the image scaled to fit a
    ``cell x cell`` square (aspect kept, grey border), its boxes and captions drawn at that scale,
    its file name and object count in a strip underneath."""
    import cv2
    import numpy as np

    from ssd.visualization.draw import class_colour, draw_boxes

    image, boxes, labels, difficult, name = sample
    h, w = image.shape[:2]
    scale = cell / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    tile = np.full((cell + NAME_STRIP, cell, 3), 114, np.uint8)
    tile[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    for label in labels:
        if not 1 <= int(label) <= len(class_names):
            raise ValueError(f"{name}: label {int(label)} is outside 1..{len(class_names)} ({list(class_names)})")
    captions = [class_names[int(lab) - 1] + (" (difficult)" if hard else "")
                for lab, hard in zip(labels, difficult, strict=True)]
    tile = draw_boxes(tile, np.asarray(boxes, np.float64).reshape(-1, 4) * scale, captions,
                      [class_colour(int(lab)) for lab in labels])
    tile[cell:] = 40
    cv2.putText(tile, f"{name} ({len(labels)} objects)", (4, cell + NAME_STRIP - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def make_grid(tiles: Sequence[np.ndarray], *, columns: int, gap: int = 2) -> np.ndarray:
    """Equal-sized tiles in rows of ``columns``, separated by white ``gap``-pixel lines."""
    import numpy as np

    th, tw = tiles[0].shape[:2]
    rows, cols = math.ceil(len(tiles) / columns), min(columns, len(tiles))
    grid = np.full((rows * (th + gap) - gap, cols * (tw + gap) - gap, 3), 255, np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        grid[r * (th + gap) : r * (th + gap) + th, c * (tw + gap) : c * (tw + gap) + tw] = tile
    return grid


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True, help="YAML config")
    parser.add_argument("--split", choices=("train", "test"), default="train",
                        help="train: after augmentation; test: ground truth as loaded")
    parser.add_argument("--num", type=int, default=16, help="images to draw")
    parser.add_argument("--output", required=True, help="folder for the grid images")
    parser.add_argument("--dataset", help="test set to draw (default: DATASETS.TEST[0])")
    parser.add_argument("--per-grid", type=int, default=16, help="images per grid file")
    parser.add_argument("--cell-size", type=int, default=320, help="tile side in pixels")
    add_overrides(parser)
    args = parse_args(parser, argv)
    if args.num < 1 or args.per_grid < 1 or args.cell_size < 32:
        parser.error("--num and --per-grid must be >= 1 and --cell-size >= 32")
    import cv2
    import numpy as np

    from ssd.config import load_config
    from ssd.data import build_dataset, class_names_for

    setup_logger(output_dir=None)
    cfg = load_config(args.config_file, args.opts)

    if args.split == "train":
        class_names = class_names_for(cfg, train=True)
        samples = train_samples(cfg, args.num)
        source = f"DATASETS.TRAIN {list(cfg.DATASETS.TRAIN)} after INPUT.AUGMENTATION {cfg.INPUT.AUGMENTATION!r}"
    else:
        name = args.dataset or (cfg.DATASETS.TEST[0] if len(cfg.DATASETS.TEST) else None)
        if not name:
            parser.error("DATASETS.TEST is empty: name a test set with --dataset")
        dataset = build_dataset(cfg, name, is_train=False)
        class_names = dataset.class_names
        samples = test_samples(dataset, args.num)
        source = f"{name} as loaded"
    logger.info("drawing %s; classes %s", source, list(class_names))

    os.makedirs(args.output, exist_ok=True)
    columns = math.ceil(math.sqrt(args.per_grid))
    tiles, written, counts = [], [], np.zeros(len(class_names) + 1, np.int64)

    def flush() -> None:
        path = os.path.join(args.output, f"{args.split}_grid_{len(written):03d}.jpg")
        if not cv2.imwrite(path, make_grid(tiles, columns=columns), [cv2.IMWRITE_JPEG_QUALITY, 92]):
            raise OSError(f"could not write {path}")
        written.append(path)
        tiles.clear()

    for sample in samples:
        tiles.append(render_tile(sample, class_names=class_names, cell=args.cell_size))
        np.add.at(counts, sample[2].astype(np.int64), 1)
        if len(tiles) == args.per_grid:
            flush()
    if tiles:
        flush()
    per_class = ", ".join(f"{n} {c}" for n, c in zip(class_names, counts[1:], strict=True))
    logger.info("wrote %d grid(s) to %s; objects drawn: %s", len(written), args.output, per_class)
    return 0


if __name__ == "__main__":
    sys.exit(main())
