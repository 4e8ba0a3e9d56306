#!/usr/bin/env python
"""Score an existing detections file against the configured test sets, without a model
(mmdetection's eval_metric.py).

    ssd eval --config-file configs/quickstart_ssdlite320_mnv3.yaml \\
        --detections outputs/test/quickstart_model_best/inference/quickstart_test/detections.json
    python tools/eval_detections.py --config-file CFG --detections FILE [--dataset NAME] [--output FILE] [KEY VALUE ...]

FILE is in the COCO results format (what tools/test.py writes): a list of {"image_id",
"category_id", "bbox": [x, y, w, h] in original pixels, "score"}; category ids are the dataset's
own (VOC-format sets: the label index 1..K). Every image of the test set is scored, those without
detections included. The evaluator is the one TEST.EVALUATOR picks, as in tools/test.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

from ssd.tools.args import add_overrides, entry_point, parse_args
from ssd.tools.test import summary
from ssd.utils.logger import setup_tool_logging

logger = logging.getLogger("ssd.eval_detections")

_FIELDS = ("image_id", "category_id", "bbox", "score")


def load_detections(path: str) -> list[dict[str, Any]]:
    """The entries of a COCO results file. Raises ``ValueError`` naming the file and the first bad entry."""
    try:
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON ({e})") from e
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list of COCO results, got a {type(entries).__name__}")
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or any(k not in e for k in _FIELDS) or len(e["bbox"]) != 4:
            raise ValueError(f"{path}: entry {i} is not a COCO result {{image_id, category_id, bbox [x, y, w, h], "
                             f"score}}: {e}")
        try:
            numbers = [float(v) for v in e["bbox"]] + [float(e["score"])]
        except (TypeError, ValueError):
            numbers = [math.nan]
        if not all(math.isfinite(v) for v in numbers) or numbers[2] < 0 or numbers[3] < 0:
            raise ValueError(f"{path}: entry {i} has a box that is not [x, y, width >= 0, height >= 0] of finite "
                             f"numbers with a finite score: {e}")
    if not entries:
        logger.warning(
            "%s holds no detections: every AP below is 0 (was the right file given?)", path)
    return entries


def detections_per_image(
    dataset: Any, entries: Sequence[dict[str, Any]], *, source: str
) -> tuple[list[dict[str, Any]], list[dict[str, torch.Tensor]]]:
    """``(infos, outputs)`` for every image of ``dataset``, as a model would hand them to an
    evaluator: boxes xyxy in original pixels, labels through the dataset's category ids. Entries
    name their image as ``ssd test`` writes them (:meth:`ssd.data.class_layout.ClassLayout.result_image_id`:
    the dataset index for VOC-format sets) or by the dataset's own image id.

    Entries whose image or category the dataset does not have are dropped with one warning
    giving the counts and the first ids; ``ValueError`` when no entry is left."""
    import torch  # after --help

    layout = dataset.class_layout
    category_to_label = layout.labels_of_categories()
    index_of = {}
    for i in range(len(dataset)):
        info = {"index": i, **dataset.get_img_info(i)}
        index_of[info["image_id"]] = i  # a VOC-format set's own id ("000005") is understood too
        index_of[layout.result_image_id(info)] = i  # what ssd test writes
    per_image: dict[int, list[tuple[list[float], float, int]]] = {i: [] for i in range(len(dataset))}
    unknown_images, unknown_categories = Counter(), Counter()
    for e in entries:
        index = index_of.get(e["image_id"])
        if index is None:
            unknown_images[e["image_id"]] += 1
            continue
        category = int(e["category_id"])
        label = category_to_label.get(category)
        if label is None:
            unknown_categories[category] += 1
            continue
        x, y, w, h = (float(v) for v in e["bbox"])
        per_image[index].append(([x, y, x + w, y + h], float(e["score"]), label))
    for what, counts in (("image ids", unknown_images), ("category ids", unknown_categories)):
        if counts:
            logger.warning("%s: dropped %d detections with %s the test set does not have (first: %s)",
                           source, sum(counts.values()), what, list(counts)[:5])
    if entries and unknown_images.total() + unknown_categories.total() == len(entries):
        raise ValueError(f"{source}: none of its {len(entries)} detections matches an image and a category "
                         "of the test set: wrong file or wrong DATASETS.TEST?")
    infos, outputs = [], []
    for index, dets in per_image.items():
        infos.append({"index": index, **dataset.get_img_info(index)})
        outputs.append({
            "boxes": torch.tensor([d[0] for d in dets], dtype=torch.float64).reshape(-1, 4),
            "scores": torch.tensor([d[1] for d in dets], dtype=torch.float64),
            "labels": torch.tensor([d[2] for d in dets], dtype=torch.int64),
        })
    return infos, outputs


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True, help="YAML config naming the test set(s)")
    parser.add_argument("--detections", required=True, help="detections.json in the COCO results format")
    parser.add_argument("--dataset", default=None, help="one DATASETS.TEST name (default: every one)")
    parser.add_argument("--output", default=None, help="write {dataset: metrics} to this JSON file")
    add_overrides(parser)
    args = parse_args(parser, argv)
    setup_tool_logging(logging.INFO)
    # torch and the library after the arguments: --help and a missing option answer at once
    from ssd.config import load_config
    from ssd.data import build_dataset
    from ssd.evaluation import build_evaluator
    from ssd.evaluation.schema import json_safe

    cfg = load_config(args.config_file, args.opts)
    names = [args.dataset] if args.dataset else list(cfg.DATASETS.TEST)
    if not names:
        raise ValueError(f"DATASETS.TEST is empty in {args.config_file}: name the test set (or pass --dataset)")
    entries = load_detections(args.detections)
    results = {}
    for name in names:
        dataset = build_dataset(cfg, name, is_train=False)
        evaluator = build_evaluator(cfg, dataset, dataset.class_names)
        evaluator.reset()
        infos, outputs = detections_per_image(dataset, entries, source=args.detections)
        evaluator.process(infos, outputs)
        results[name] = evaluator.evaluate()
        print(summary(name, results[name]))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(json_safe(results), f, indent=2)  # NaN (no objects of a size) as null, as metrics.json
    return 0


if __name__ == "__main__":
    sys.exit(main())
