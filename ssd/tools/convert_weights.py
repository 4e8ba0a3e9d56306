#!/usr/bin/env python
"""Convert torchvision, lufficc/SSD or TensorFlow object-detection API detector weights into a
checkpoint of this framework.

    python tools/convert_weights.py --source torchvision --input SSD300_VGG16_Weights.COCO_V1 \
        --config-file configs/converted/ssd300_vgg16_coco_torchvision.yaml \
        --output weights/ssd300_vgg16_coco_torchvision.pth

    python tools/convert_weights.py --source tensorflow --input frozen_inference_graph.pb \
        --output model.pth [--classes names.txt]

``--input`` is a local file, a URL (downloaded once into the torch hub cache) or a torchvision
weights name; for ``tensorflow`` a ``frozen_inference_graph.pb`` of an SSD / SSDLite MobileNetV2,
whose architecture the graph itself gives (``--config-file`` optional: its non-model keys are kept;
``--classes``: one name a line, default ``class_1..``). Every key that cannot be placed is
reported; a partial model is written only with ``--allow-partial`` (never for ``tensorflow``).
The output loads directly in tools/test.py and tools/demo.py.
"""

from __future__ import annotations

import argparse
import logging
import sys

from ssd.tools import args as tool_args
from ssd.utils.logger import setup_tool_logging

logger = logging.getLogger("ssd.convert")
SOURCES = ("torchvision", "lufficc", "tensorflow")  # ssd.convert.SOURCES, named here so --help needs no torch


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", required=True, choices=SOURCES, help="where the weights come from")
    p.add_argument("--input", required=True, help="checkpoint file, URL or torchvision weights name")
    p.add_argument("--config-file", default="",
                   help="config describing the same model (required unless --source tensorflow)")
    p.add_argument("--classes", default="", help="tensorflow: class names, one a line (default class_1..)")
    p.add_argument("--output", required=True, help="checkpoint file to write")
    p.add_argument("--allow-partial", action="store_true",
                   help="write the model even if some keys could not be placed (they keep their init)")
    tool_args.add_overrides(p)
    return tool_args.parse_args(p, argv)


@tool_args.entry_point
def main(argv: list[str] | None = None) -> int:
    setup_tool_logging(logging.INFO)
    args = parse_args(argv)
    # torch and the library after the arguments: --help and a missing option answer at once
    from ssd.config import get_cfg, load_config
    from ssd.convert import convert_weights
    from ssd.convert.convert import convert_tensorflow
    from ssd.data.catalog import load_class_names
    from ssd.utils.checkpoint import atomic_save
    if not args.config_file and args.source != "tensorflow":
        logger.error("--config-file is required for --source %s", args.source)
        return 1
    try:
        cfg = load_config(args.config_file, args.opts) if args.config_file else get_cfg()
        if args.source == "tensorflow":
            names = load_class_names(args.classes) if args.classes else None
            _, checkpoint = convert_tensorflow(graph_path=args.input, cfg=cfg, class_names=names)
        else:
            _, checkpoint = convert_weights(
                source=args.source, weights=args.input, cfg=cfg, allow_partial=args.allow_partial
            )
    except (ValueError, OSError) as e:
        logger.error("%s", e)
        return 1
    atomic_save(checkpoint, args.output)
    logger.info("wrote %s", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
