#!/usr/bin/env python
"""Dataset utilities. ``convert`` moves a dataset between the COCO, VOC and YOLO layouts.

    python tools/data.py convert --from yolo --images data/images/train --to coco --out out/coco
    python tools/data.py convert --from voc --root VOC2007 --split test --to coco --out out/voc07_coco
    python tools/data.py convert --from coco --images val2017 --annotations instances_val2017.json \\
        --to voc --out out/coco_voc --out-split val

The input is read and checked as for training (the same errors and warnings); images are
hard-linked into the output when possible, else copied. See ``ssd.data.writers`` for what each
target keeps (VOC rounds boxes to whole pixels; YOLO leaves difficult / crowd objects out).
"""

from __future__ import annotations

import argparse
import logging
import sys

from ssd.tools.args import entry_point, parse_args
from ssd.utils.logger import setup_tool_logging

# Command-line option -> catalog key of the formats that take it.
_INPUT_OPTIONS = {
    "root": "ROOT",
    "split": "SPLIT",
    "images": "IMAGES",
    "annotations": "ANNOTATIONS",
    "labels": "LABELS",
}
TARGETS = ("coco", "voc", "yolo")
SOURCES = ("coco", "voc", "yolo")  # the registered ssd.data.formats; named here so --help needs no torch


def read_dataset(fmt_name: str, paths: dict[str, str], classes: str | None = None):
    """Build a dataset of a registered format from its catalog keys, every object kept (no transform)."""
    from ssd.data.class_names import load_class_names
    from ssd.data.formats import FORMATS

    fmt = FORMATS.get(fmt_name)
    missing = [k for k in fmt.required_keys if not paths.get(k)]
    if missing:
        options = ", ".join(f"--{o}" for o, k in _INPUT_OPTIONS.items() if k in missing)
        raise ValueError(f"--from {fmt_name} needs {options} ({fmt.description})")
    keys = set(fmt.required_keys) | set(fmt.optional_keys)
    return fmt.build(
        {k: v for k, v in paths.items() if k in keys and v},
        class_names=load_class_names(classes) if classes else None,
        transform=None,
        training=False,
        keep_difficult=True,
        keep_empty=True,
        skip_corrupt=False,
    )


def convert(args: argparse.Namespace) -> str:
    from ssd.data.writers import write_coco_dataset, write_voc_dataset, write_yolo_dataset

    paths = {key: getattr(args, option) for option, key in _INPUT_OPTIONS.items()}
    dataset = read_dataset(args.source, paths, args.classes)
    split = args.out_split or (args.split if args.source == "voc" else None)
    if args.target == "coco":
        return write_coco_dataset(
            dataset.records, dataset.class_names, args.out, split=split or "train",
            category_ids=dataset.label_to_category_id,
        )
    if args.target == "voc":
        return write_voc_dataset(dataset.records, dataset.class_names, args.out, split=split or "trainval")
    return write_yolo_dataset(dataset.records, dataset.class_names, args.out, split=split or "train")


@entry_point
def main(argv: list[str] | None = None) -> int:
    """A bad input (missing option, unreadable or inconsistent dataset, occupied output) is one
    line, ``error: ...``, and exit 1, as in the other tools."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    conv = commands.add_parser("convert", help="write a dataset in another format", description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    conv.add_argument("--from", dest="source", required=True, choices=SOURCES, help="input format")
    conv.add_argument("--to", dest="target", required=True, choices=TARGETS, help="output format")
    conv.add_argument("--out", required=True, help="output folder (created; a second split may share it)")
    conv.add_argument("--root", help="voc: the folder holding JPEGImages, Annotations, ImageSets")
    conv.add_argument("--split", help="voc: the ImageSets/Main split to read (e.g. trainval)")
    conv.add_argument("--images", help="coco / yolo: the image folder")
    conv.add_argument("--annotations", help="coco: the instances JSON")
    conv.add_argument("--labels", help="yolo: the label folder (default: images -> labels in the image path)")
    conv.add_argument("--classes", help="class list file (.txt, .names, data.yaml); default: the format's own")
    conv.add_argument("--out-split", help="split name written (default: the voc split, else train / trainval)")
    conv.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    args = parse_args(parser, argv)
    setup_tool_logging(logging.INFO)
    out = convert(args)
    logging.info("done: %s", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
