#!/usr/bin/env python
"""Train a detector; running the same command again resumes from OUTPUT_DIR's last checkpoint.

    python tools/train.py --config-file CFG [KEY VALUE ...]                       # CPU or one GPU
    torchrun --nproc_per_node=N tools/train.py --config-file CFG [KEY VALUE ...]  # N processes (DDP)
"""

from __future__ import annotations

import argparse
import sys

from ssd.tools.args import add_overrides, entry_point, parse_args


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True, help="YAML config")
    add_overrides(parser)
    args = parse_args(parser, argv)
    # torch and the library after the arguments: --help and a missing option answer at once
    from ssd.config import load_config
    from ssd.engine import setup_run, train
    from ssd.engine.preflight import check_backbone_start
    from ssd.utils.distributed import destroy_distributed

    cfg = load_config(args.config_file, args.opts)
    check_backbone_start(cfg, source=args.config_file)
    run = setup_run(cfg)
    try:
        train(run)
    finally:
        destroy_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
