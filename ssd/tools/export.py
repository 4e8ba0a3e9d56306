#!/usr/bin/env python
"""Export a trained detector to ONNX: RGB images in, detections out (NMS in the graph).

    python tools/export.py --ckpt CKPT [--config-file CFG] [--format onnx] --output model.onnx \\
        [--no-postprocess] [--int8 --calib-images N] [KEY VALUE ...]

The config and class names come from the checkpoint unless --config-file is given (overrides apply
either way; TEST.* thresholds are baked into the graph; INPUT.RESIZE_MODE is stored for the runtime's
resize and sets the input dtype: uint8, float32 for tf_bilinear). --int8 quantises the network statically
(QDQ), calibrating on N images of DATASETS.TRAIN[0] through the test-time resize. Run the result
with ONNX Runtime alone, or through `tools/test.py --backend onnxruntime --onnx FILE`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ssd.tools.args import add_overrides, entry_point, parse_args


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True, help="checkpoint path or URL")
    parser.add_argument("--config-file", default=None, help="YAML config (default: the one stored in the checkpoint)")
    parser.add_argument("--format", default="onnx", choices=["onnx"])
    parser.add_argument("--output", required=True, help="file to write (.onnx)")
    parser.add_argument("--no-postprocess", action="store_true",
                        help="network only: decoded boxes [B, P, 4] and class scores [B, P, K], no NMS")
    parser.add_argument("--int8", action="store_true", help="static int8 quantisation of the network (QDQ)")
    parser.add_argument("--calib-images", type=int, default=100, help="training images to calibrate int8 on")
    parser.add_argument("--calib-method", default="percentile", choices=["minmax", "percentile", "entropy"],
                        help="activation ranges: 99.999th percentile (default), min/max or entropy")
    add_overrides(parser)
    args = parse_args(parser, argv)
    # torch, ONNX and the library after the arguments: --help and a missing option answer at once
    import onnx

    from ssd.export.loading import load_detector
    from ssd.export.onnx import export_detector, export_network
    from ssd.utils.logger import setup_logger

    setup_logger(output_dir=None, rank=0)
    log = logging.getLogger("ssd.export")

    loaded = load_detector(args.ckpt, config_file=args.config_file, opts=args.opts)
    resize_mode = loaded.cfg.INPUT.RESIZE_MODE
    network = export_network(loaded.model, resize_mode=resize_mode)
    quantization = None
    if args.int8:
        from ssd.data import build_dataset
        from ssd.export.quantize import calibration_images, quantize_network

        cfg = loaded.cfg
        if not cfg.DATASETS.TRAIN:
            raise ValueError("--int8 calibrates on DATASETS.TRAIN[0], which the config leaves empty")
        dataset = build_dataset(cfg, cfg.DATASETS.TRAIN[0], is_train=False)
        images = calibration_images(dataset, args.calib_images)
        network = quantize_network(network, images, method=args.calib_method)
        quantization = {"scheme": "static int8 QDQ, per-channel weights", "calibration": args.calib_method,
                        "calibration_images": len(images), "calibration_set": cfg.DATASETS.TRAIN[0]}
    model = export_detector(loaded.model, class_layout=loaded.class_layout, config_yaml=loaded.cfg.dump(),
                            postprocess=not args.no_postprocess, network=network, quantization=quantization,
                            resize_mode=resize_mode)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    onnx.save(model, args.output)
    log.info("wrote %s (%.1f MB)", args.output, os.path.getsize(args.output) / 1e6)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
