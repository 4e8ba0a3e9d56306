#!/usr/bin/env python
"""Generate the embedded synthetic shapes dataset (VOC, COCO or YOLO layout) and optional demo images.

python tools/make_synthetic_dataset.py --format voc --out datasets/synthetic_voc --train 300 --test 100
python tools/make_synthetic_dataset.py --format coco --out datasets/synthetic_coco --difficulty easy
python tools/make_synthetic_dataset.py --format yolo --out datasets/synthetic_yolo
python tools/make_synthetic_dataset.py --demo-out demo --demo 6
"""

from __future__ import annotations

import argparse
import logging

from ssd.tools.args import entry_point, parse_args
from ssd.utils.logger import setup_tool_logging

FORMATS = ("coco", "voc", "yolo")  # named here (not from ssd.data.synthetic) so --help needs no torch
DIFFICULTIES = ("easy", "hard", "medium")


@entry_point
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--format", choices=FORMATS, default="voc")
    parser.add_argument("--out", help="output folder of the dataset")
    parser.add_argument("--train", type=int, default=300, help="training images")
    parser.add_argument("--test", type=int, default=100, help="test images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--difficulty", choices=DIFFICULTIES, default="medium")
    parser.add_argument("--min-objects", type=int)
    parser.add_argument("--max-objects", type=int)
    parser.add_argument("--min-size", type=float, help="smallest shape, fraction of the shorter side")
    parser.add_argument("--max-size", type=float, help="largest shape, fraction of the shorter side")
    parser.add_argument("--clutter", type=int, help="background distractor strokes per image")
    parser.add_argument("--demo", type=int, default=0, help="also write this many demo JPEGs")
    parser.add_argument("--demo-out", default="demo", help="folder of the demo images")
    args = parse_args(parser, argv)
    setup_tool_logging(logging.INFO)
    if not args.out and not args.demo:
        parser.error("nothing to do: give --out and/or --demo N")
    from ssd.data.synthetic import spec_for, write_coco, write_demo_images, write_voc, write_yolo

    writers = {"voc": write_voc, "coco": write_coco, "yolo": write_yolo}
    spec = spec_for(
        args.difficulty,
        min_objects=args.min_objects,
        max_objects=args.max_objects,
        min_size=args.min_size,
        max_size=args.max_size,
        clutter=args.clutter,
    )
    if args.out:
        writers[args.format](args.out, train=args.train, test=args.test, seed=args.seed, spec=spec)
    if args.demo:
        paths = write_demo_images(args.demo_out, count=args.demo, seed=args.seed, spec=spec)
        logging.info("wrote %d demo images to %s", len(paths), args.demo_out)


if __name__ == "__main__":
    main()
