#!/usr/bin/env python
"""Evaluate a checkpoint on every DATASETS.TEST set.

    ssd test --ckpt outputs/quickstart/model_best.pth          # the config stored in the checkpoint
    python tools/test.py --config-file CFG [--ckpt PATH_OR_URL] [KEY VALUE ...]
    torchrun --nproc_per_node=N tools/test.py --config-file CFG [--ckpt PATH_OR_URL]

Config: --config-file when given, else the one --ckpt stores; KEY VALUE overrides on top (an
override of the classes, which the checkpoint's head decides, is refused). Default checkpoint: the
last one in OUTPUT_DIR. With --ckpt, OUTPUT_DIR is outputs/test/<run folder>_<checkpoint name>
unless given (never the training run's folder). Writes OUTPUT_DIR/inference/<dataset>/detections.json
(COCO results format, boxes in original image pixels; written before the evaluation) and metrics.json
({task: {"primary", "metrics", "per_class"}}, NaN as null).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from yacs.config import CfgNode

from ssd.tools.args import add_overrides, entry_point, parse_args

BACKENDS = ("torch", "onnxruntime")  # ssd.export.backends.BACKENDS, named here so --help needs no torch
logger = logging.getLogger("ssd.test")


def summary(name: str, result: dict) -> str:
    """The line printed for one dataset, its primary metric; the evaluator has just logged every
    metric and the per-class table (the same for VOC and COCO: both follow ``ssd.evaluation.schema``),
    so the console shows that table once."""
    from ssd.evaluation import primary_metric

    metric, value = primary_metric(result)
    return f"{name}: {metric} = {value:.4f} (every metric and the per-class table: the log above, metrics.json)"


def default_output_dir(ckpt: str) -> str:
    """Where ``ssd test --ckpt CK`` writes unless OUTPUT_DIR is given: a folder of its own,
    ``outputs/test/<run folder>_<checkpoint name>``, never the training run's (its
    ``inference/*/metrics.json`` and ``log.txt`` belong to the training)."""
    from ssd.utils.download import is_url

    stem = os.path.splitext(os.path.basename(ckpt.rstrip("/")))[0]
    run = "" if is_url(ckpt) else os.path.basename(os.path.dirname(os.path.abspath(ckpt)))
    return os.path.join("outputs", "test", f"{run}_{stem}" if run else stem)


def resolve_config(config_file: str | None, ckpt: str | None, opts: list[str]) -> CfgNode:
    """--config-file, else the config --ckpt stores, with the overrides (an override of the classes
    that the checkpoint cannot honour is refused); with --ckpt and no OUTPUT_DIR override, OUTPUT_DIR
    is :func:`default_output_dir`. Raises ``ValueError`` when there is no test set to evaluate."""
    return _resolve(config_file, ckpt, opts)[1]


def _resolve(config_file: str | None, ckpt: str | None, opts: list[str]) -> tuple[dict | None, CfgNode]:
    from ssd.checkpoint.loading import resolve_checkpoint_config
    from ssd.config import load_config

    opts = list(opts)
    if ckpt and "OUTPUT_DIR" not in opts[::2]:
        opts += ["OUTPUT_DIR", default_output_dir(ckpt)]
    if ckpt:
        checkpoint, cfg = resolve_checkpoint_config(ckpt, config_file=config_file, opts=opts)
    else:  # the checkpoint holds every weight: never fetch the backbone's pretrained ones
        checkpoint, cfg = None, load_config(config_file, ["MODEL.BACKBONE.WEIGHTS", "", *opts])
    if not cfg.DATASETS.TEST:
        raise ValueError(f"DATASETS.TEST is empty in {config_file or 'the config stored in ' + str(ckpt)}: nothing "
                         "to evaluate; name the test sets, e.g. DATASETS.TEST \"('voc_2007_test',)\"")
    return checkpoint, cfg


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
    # torch and the library after the arguments: --help and a missing option answer at once
    from ssd.checkpoint.io import load_checkpoint
    from ssd.checkpoint.loading import detector_from_checkpoint
    from ssd.engine import evaluate, setup_run
    from ssd.export.backends import inference_backend
    from ssd.utils.checkpoint import last_checkpoint
    from ssd.utils.distributed import destroy_distributed, is_main_process

    checkpoint, cfg = _resolve(args.config_file, args.ckpt, args.opts)
    run = setup_run(cfg, training=False)
    if args.ckpt:
        logger.info("writing results into OUTPUT_DIR = %s (pass OUTPUT_DIR to choose another folder)", cfg.OUTPUT_DIR)
    try:
        if args.backend == "torch":  # the checkpoint's model; an exported file names its own classes
            path = args.ckpt or last_checkpoint(run.cfg.OUTPUT_DIR)
            if not path:
                raise FileNotFoundError(f"no --ckpt given and no checkpoint in OUTPUT_DIR = {run.cfg.OUTPUT_DIR}")
            loaded = detector_from_checkpoint(checkpoint or load_checkpoint(path), run.cfg, source=path)
            model = loaded.model.to(run.device)
            class_layout = loaded.class_layout
        else:
            model, path = inference_backend(args.backend, onnx=args.onnx), args.onnx
            if model.resize_mode != run.cfg.INPUT.RESIZE_MODE:  # the loader resizes by the config
                raise ValueError(f"{path} was exported for INPUT.RESIZE_MODE {model.resize_mode!r}, the config "
                                 f"says {run.cfg.INPUT.RESIZE_MODE!r}: pass INPUT.RESIZE_MODE {model.resize_mode}")
            class_layout = model.class_layout
        results = evaluate(run.cfg, model, device=run.device, class_layout=class_layout, progress=True)
        if is_main_process():
            print(f"checkpoint: {path}")
            for name, metrics in results.items():
                print(summary(name, metrics))
    finally:
        destroy_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
