#!/usr/bin/env python
"""Evaluate a checkpoint on every DATASETS.TEST set.

    ssd test --ckpt outputs/quickstart/model_0000500.pth          # the config stored in the checkpoint
    python tools/test.py --config-file CFG [--ckpt PATH_OR_URL] [KEY VALUE ...]
    torchrun --nproc_per_node=N tools/test.py --config-file CFG [--ckpt PATH_OR_URL]

Config: --config-file when given, else the one --ckpt stores; KEY VALUE overrides on top.
Default checkpoint: the last one in OUTPUT_DIR. Writes OUTPUT_DIR/inference/<dataset>/detections.json
(COCO results format, boxes in original image pixels; written before the evaluation) and metrics.json
({task: {"primary", "metrics", "per_class"}}, NaN as null).
"""

from __future__ import annotations

import argparse
import logging
import sys

from yacs.config import CfgNode

from ssd.config import load_config
from ssd.engine import evaluate, load_for_test, setup_run
from ssd.evaluation import format_result, primary_metric
from ssd.export.backends import BACKENDS, inference_backend
from ssd.tools.args import add_overrides, entry_point, parse_args
from ssd.utils.checkpoint import checkpoint_config, checkpoint_conflicts, load_checkpoint
from ssd.utils.distributed import destroy_distributed, is_main_process

logger = logging.getLogger("ssd.test")


def summary(name: str, result: dict) -> str:
    """The text printed for one dataset: its primary metric, then every metric and the per-class
    table (the same for VOC and COCO: both follow ``ssd.evaluation.schema``)."""
    metric, value = primary_metric(result)
    return f"{name}: {metric} = {value:.4f}\n{format_result(result)}"


def resolve_config(config_file: str | None, ckpt: str | None, opts: list[str]) -> CfgNode:
    """--config-file, else the config --ckpt stores, with the overrides; warns about settings the
    checkpoint overrules and raises ``ValueError`` when there is no test set to evaluate."""
    # the checkpoint holds every weight: never fetch the backbone's pretrained ones
    opts = ["MODEL.BACKBONE.WEIGHTS", "", *opts]
    checkpoint = load_checkpoint(ckpt) if ckpt else None
    if checkpoint is not None:
        cfg = checkpoint_config(checkpoint, source=ckpt, config_file=config_file, opts=opts)
        for message in checkpoint_conflicts(checkpoint, cfg, source=ckpt):
            logger.warning("%s", message)
    else:
        cfg = load_config(config_file, opts)
    if not cfg.DATASETS.TEST:
        raise ValueError(f"DATASETS.TEST is empty in {config_file or 'the config stored in ' + str(ckpt)}: nothing "
                         "to evaluate; name the test sets, e.g. DATASETS.TEST \"('voc_2007_test',)\"")
    return cfg


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default=None, help="YAML config (default: the one stored in --ckpt)")
    parser.add_argument("--ckpt", default=None, help="checkpoint path or URL (default: OUTPUT_DIR's last)")
    parser.add_argument("--backend", default="torch", choices=BACKENDS,
                        help="run the checkpoint in PyTorch, or the --onnx file in ONNX Runtime")
    parser.add_argument("--onnx", default=None, help="ONNX file of tools/export.py (with --backend onnxruntime)")
    add_overrides(parser)
    args = parse_args(parser, argv)
    if not args.config_file and not args.ckpt:
        parser.error("give --ckpt (its stored config is used), --config-file (OUTPUT_DIR's last checkpoint), or both")
    run = setup_run(resolve_config(args.config_file, args.ckpt, args.opts), training=False)
    try:
        if args.backend == "torch":  # the checkpoint's model; an exported file names its own classes
            model, class_names, path, label_to_category_id = load_for_test(run.cfg, args.ckpt, device=run.device)
        else:
            model, path = inference_backend(args.backend, onnx=args.onnx), args.onnx
            class_names, label_to_category_id = model.class_names, model.label_to_category_id
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
