#!/usr/bin/env python
"""Convert torchvision or lufficc/SSD detector weights into a checkpoint of this framework.

    python tools/convert_weights.py --source torchvision --input SSD300_VGG16_Weights.COCO_V1 \
        --config-file configs/converted/ssd300_vgg16_coco_torchvision.yaml \
        --output weights/ssd300_vgg16_coco_torchvision.pth

``--input`` is a local file, a URL (downloaded once into the torch hub cache) or a torchvision
weights name. Every key that cannot be placed is reported; a partial model is written only with
``--allow-partial``. The output loads directly in tools/test.py and tools/demo.py.
"""

from __future__ import annotations

import argparse
import logging
import sys

from ssd.config import load_config
from ssd.convert import SOURCES, convert_weights
from ssd.tools import args as tool_args
from ssd.utils.checkpoint import atomic_save
from ssd.utils.logger import setup_tool_logging

logger = logging.getLogger("ssd.convert")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", required=True, choices=SOURCES, help="where the weights come from")
    p.add_argument("--input", required=True, help="checkpoint file, URL or torchvision weights name")
    p.add_argument("--config-file", required=True, help="config describing the same model")
    p.add_argument("--output", required=True, help="checkpoint file to write")
    p.add_argument("--allow-partial", action="store_true",
                   help="write the model even if some keys could not be placed (they keep their init)")
    tool_args.add_overrides(p)
    return tool_args.parse_args(p, argv)


@tool_args.entry_point
def main(argv: list[str] | None = None) -> int:
    setup_tool_logging(logging.INFO)
    args = parse_args(argv)
    cfg = load_config(args.config_file, args.opts)
    try:
        _, checkpoint = convert_weights(
            source=args.source, weights=args.input, cfg=cfg, allow_partial=args.allow_partial
        )
    except ValueError as e:
        logger.error("%s", e)
        return 1
    atomic_save(checkpoint, args.output)
    logger.info("wrote %s", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
