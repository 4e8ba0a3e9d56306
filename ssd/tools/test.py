#!/usr/bin/env python
"""Evaluate a checkpoint on every DATASETS.TEST set.

    python tools/test.py --config-file CFG [--ckpt PATH_OR_URL] [KEY VALUE ...]
    torchrun --nproc_per_node=N tools/test.py --config-file CFG [--ckpt PATH_OR_URL]

Default checkpoint: the last one in OUTPUT_DIR. Writes OUTPUT_DIR/inference/<dataset>/metrics.json
and detections.json (COCO results format, boxes in original image pixels).
"""

from __future__ import annotations

import argparse
import sys

from ssd.config import load_config
from ssd.engine import evaluate, load_for_test, setup_run
from ssd.evaluation import format_voc_table
from ssd.utils.distributed import destroy_distributed, is_main_process


def summary(name: str, metrics: dict) -> str:
    """The table printed for one dataset: VOC per-class AP + mAP, or COCO numbers + per-class AP."""
    if "mAP" in metrics:
        return f"{name} ({metrics['metric']}):\n{format_voc_table(metrics)}"
    head = "  ".join(f"{k} {metrics[k]:.4f}" for k in ("AP", "AP50", "AP75", "APs", "APm", "APl"))
    per_class = "\n".join(f"  {c:<20} {ap:.4f}" for c, ap in metrics["per_class_AP"].items())
    return f"{name} (COCO): {head}\nper-class AP@[.5:.95]:\n{per_class}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True, help="YAML config")
    parser.add_argument("--ckpt", default=None, help="checkpoint path or URL (default: OUTPUT_DIR's last)")
    parser.add_argument("--backend", default="torch", choices=["torch", "onnxruntime"],
                        help="run the checkpoint in PyTorch, or the --onnx file in ONNX Runtime")
    parser.add_argument("--onnx", default=None, help="ONNX file of tools/export.py (with --backend onnxruntime)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    run = setup_run(load_config(args.config_file, args.opts), training=False)
    try:
        if args.backend == "onnxruntime":
            from ssd.export.runtime import OnnxRuntimeDetector

            if not args.onnx:
                raise ValueError("--backend onnxruntime needs --onnx FILE (written by tools/export.py)")
            model, path = OnnxRuntimeDetector(args.onnx), args.onnx
            class_names, label_to_category_id = model.class_names, model.label_to_category_id
        else:
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
