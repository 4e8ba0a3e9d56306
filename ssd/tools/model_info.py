#!/usr/bin/env python
"""Print a model's parameters, default boxes, feature maps and GFLOPs.

    ssd info --config-file configs/ssdlite320_mnv3_coco.yaml --json
    python tools/model_info.py --config-file CFG [--num-classes N] [--json] [KEY VALUE ...]

Classes (background included): --num-classes, else MODEL.NUM_CLASSES, else (0) derived from the
datasets' class lists as training would (annotation files are read, no image), else 81 (COCO)
with a warning when those are not on disk.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from yacs.config import CfgNode

from ssd.tools.args import add_overrides, entry_point, parse_args
from ssd.utils.logger import setup_tool_logging

logger = logging.getLogger("ssd.model_info")


def classes_from_datasets(cfg: CfgNode, *, fallback: int = 81) -> int:
    """MODEL.NUM_CLASSES 0 resolved as training resolves it (the datasets' class lists + background);
    ``fallback`` (COCO's 81) with a warning when the datasets cannot be read."""
    from ssd.data import class_names_for, resolve_num_classes

    try:
        return resolve_num_classes(0, class_names_for(cfg))
    except (OSError, ValueError, KeyError) as e:
        logger.warning("MODEL.NUM_CLASSES is 0 and the datasets' classes cannot be read (%s); counting with %d "
                       "classes, pass --num-classes to choose", e, fallback)
        return fallback


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True, help="YAML config")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--num-classes", type=int, default=None,
                        help="classes incl. background (default: MODEL.NUM_CLASSES, or the dataset's when 0)")
    add_overrides(parser)
    args = parse_args(parser, argv)
    setup_tool_logging(logging.WARNING)
    # torch and the library after the arguments: --help and a missing option answer at once
    from ssd.config import load_config
    from ssd.modeling import build_model
    from ssd.utils.model_stats import model_summary

    # Counting needs no pretrained weights: never download them here.
    cfg = load_config(args.config_file, ["MODEL.BACKBONE.WEIGHTS", "", *args.opts])
    num_classes = args.num_classes or cfg.MODEL.NUM_CLASSES or classes_from_datasets(cfg)
    model = build_model(cfg, num_classes=num_classes)
    info = {"config": args.config_file, "num_classes": num_classes, **model_summary(model)}
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"config            {info['config']}")
    print(f"backbone / neck   {cfg.MODEL.BACKBONE.NAME} / {cfg.MODEL.NECK.NAME}, "
          f"{cfg.MODEL.BOX_HEAD.PREDICTOR} predictor, {num_classes} classes")
    print(f"input size        {info['input_size']} x {info['input_size']}")
    print(f"parameters        {info['params']:,} ({info['params'] / 1e6:.2f} M)")
    print(f"GFLOPs            {info['gflops']:.3f} (= {info['gmacs']:.3f} G multiply-adds)")
    print(f"default boxes     {info['num_default_boxes']}")
    print("level  feature map  channels")
    for k, ((h, w), c) in enumerate(zip(info["feature_maps"], info["out_channels"], strict=True)):
        print(f"{k:>5}  {h:>4} x {w:<5}  {c:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
