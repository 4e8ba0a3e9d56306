#!/usr/bin/env python
"""Evaluate a checkpoint on every DATASETS.TEST set.

    python tools/test.py --config-file CFG [--ckpt PATH_OR_URL] [KEY VALUE ...]
    torchrun --nproc_per_node=N tools/test.py --config-file CFG [--ckpt PATH_OR_URL]

Default checkpoint: the last one in OUTPUT_DIR. Writes OUTPUT_DIR/inference/<dataset>/detections.json
(COCO results format, boxes in original image pixels; written before the evaluation) and metrics.json
({task: {"primary", "metrics", "per_class"}}, NaN as null).
"""

from __future__ import annotations

import argparse
import sys

from ssd.config import load_config
from ssd.engine import evaluate, load_for_test, setup_run
from ssd.evaluation import format_result, primary_metric
from ssd.utils.distributed import destroy_distributed, is_main_process


def summary(name: str, result: dict) -> str:
    """The text printed for one dataset: its primary metric, then every metric and the per-class
    table (the same for VOC and COCO: both follow ``ssd.evaluation.schema``)."""
    metric, value = primary_metric(result)
    return f"{name}: {metric} = {value:.4f}\n{format_result(result)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True, help="YAML config")
    parser.add_argument("--ckpt", default=None, help="checkpoint path or URL (default: OUTPUT_DIR's last)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    run = setup_run(load_config(args.config_file, args.opts), training=False)
    try:
        model, class_names, path, label_to_category_id = load_for_test(run.cfg, args.ckpt, device=run.device)
        results = evaluate(run.cfg, model, device=run.device, class_names=class_names, progress=True,
                           label_to_category_id=label_to_category_id)
        if is_main_process():
            print(f"checkpoint: {path}")
            for name, metrics in results.items():
                print(summary(name, metrics))
    finally:
        destroy_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
