#!/usr/bin/env python
"""Detect objects in images (or a video) and write annotated copies plus detections.json.

    python tools/demo.py --config-file CFG --ckpt PATH_OR_URL --images DIR_OR_FILE \\
        [--output DIR] [--score-threshold T] [KEY VALUE ...]

Images: every .jpg/.jpeg/.png/.bmp/.webp (any case) in a folder, or one file; a video file
(.mp4/.avi/.mov/.mkv) gives an annotated video. Class names come from the checkpoint (else the
config's DATASETS.CLASSES), never from a dataset on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import cv2
from tqdm import tqdm

from ssd.config import load_config, resolve_device
from ssd.data import load_class_names
from ssd.engine.predictor import Predictor, draw_detections
from ssd.modeling import build_model
from ssd.utils.checkpoint import load_checkpoint, model_state

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv")


def list_images(path: str) -> list[str]:
    """The image files in folder ``path`` (sorted), or ``[path]`` for a single file."""
    if os.path.isdir(path):
        return sorted(os.path.join(path, n) for n in os.listdir(path) if n.lower().endswith(IMAGE_EXTS))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--images {path}: no such file or folder")
    return [path]


def detections_entry(pred: dict, class_names: list[str]) -> list[dict]:
    return [
        {"box": [round(float(v), 2) for v in box], "score": round(float(score), 4), "label": int(label),
         "class_name": class_names[int(label) - 1]}
        for box, score, label in zip(pred["boxes"].tolist(), pred["scores"].tolist(), pred["labels"].tolist(),
                                     strict=True)
    ]


def run_video(path: str, predictor: Predictor, class_names: list[str], output: str) -> list[dict]:
    capture = cv2.VideoCapture(path)
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    writer, entries, frame = None, [], 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        pred = predictor(bgr)
        if writer is None:
            out_path = os.path.join(output, os.path.splitext(os.path.basename(path))[0] + "_det.mp4")
            writer = cv2.VideoWriter(out_path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (bgr.shape[1], bgr.shape[0]))
        writer.write(draw_detections(bgr, class_names=class_names, **{k: v.numpy() for k, v in pred.items()}))
        entries.append({"file_name": os.path.basename(path), "frame": frame, "height": bgr.shape[0],
                        "width": bgr.shape[1], "detections": detections_entry(pred, class_names)})
        frame += 1
    capture.release()
    if writer is not None:
        writer.release()
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True, help="YAML config")
    parser.add_argument("--ckpt", default=None, help="checkpoint path or URL (the torch backend needs it)")
    parser.add_argument("--backend", default="torch", choices=["torch", "onnxruntime"],
                        help="run the checkpoint in PyTorch, or the --onnx file in ONNX Runtime")
    parser.add_argument("--onnx", default=None, help="ONNX file of tools/export.py (with --backend onnxruntime)")
    parser.add_argument("--images", required=True, help="an image folder, an image, or a video")
    parser.add_argument("--output", default="demo/output", help="folder for annotated copies and detections.json")
    parser.add_argument("--score-threshold", type=float, default=0.5, help="minimum score drawn and listed")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)

    cfg = load_config(args.config_file, args.opts)
    device = resolve_device(cfg.MODEL.DEVICE)
    if args.backend == "onnxruntime":
        from ssd.export.runtime import OnnxRuntimeDetector

        if not args.onnx:
            raise ValueError("--backend onnxruntime needs --onnx FILE (written by tools/export.py)")
        model = OnnxRuntimeDetector(args.onnx)
        class_names, device = model.class_names, resolve_device("cpu")
    else:
        if not args.ckpt:
            raise ValueError("--backend torch needs --ckpt PATH_OR_URL")
        state = load_checkpoint(args.ckpt)
        class_names = list(state.get("class_names") or [])
        if not class_names:
            if not len(cfg.DATASETS.CLASSES):
                raise ValueError(f"{args.ckpt} holds no class names; set DATASETS.CLASSES in the config")
            class_names = load_class_names(list(cfg.DATASETS.CLASSES))
        model = build_model(cfg, num_classes=len(class_names) + 1)
        model.load_state_dict(model_state(state, source=args.ckpt))
    predictor = Predictor(model=model, image_size=model.image_size, device=device,
                          score_threshold=args.score_threshold)
    os.makedirs(args.output, exist_ok=True)

    entries: list[dict] = []
    if os.path.isfile(args.images) and args.images.lower().endswith(VIDEO_EXTS):
        entries = run_video(args.images, predictor, class_names, args.output)
    else:
        paths = list_images(args.images)
        bar = tqdm(paths, desc="demo", dynamic_ncols=True)
        for i, path in enumerate(bar):
            start = time.perf_counter()
            bgr = cv2.imread(path, cv2.IMREAD_COLOR)
            if bgr is None:
                tqdm.write(f"skipping unreadable image {path}")
                continue
            load_ms = 1000 * (time.perf_counter() - start)
            start = time.perf_counter()
            pred = predictor(bgr)
            infer_ms = 1000 * (time.perf_counter() - start)
            name = os.path.basename(path)
            annotated = draw_detections(bgr, class_names=class_names, **{k: v.numpy() for k, v in pred.items()})
            cv2.imwrite(os.path.join(args.output, name), annotated)
            entries.append({"file_name": name, "height": bgr.shape[0], "width": bgr.shape[1],
                            "detections": detections_entry(pred, class_names)})
            tqdm.write(f"({i + 1:04d}/{len(paths):04d}) {name}: objects {len(pred['scores']):02d} | "
                       f"load {load_ms:03.0f}ms | inference {infer_ms:04.0f}ms | FPS {1000 / infer_ms:.1f}")
    with open(os.path.join(args.output, "detections.json"), "w", encoding="utf-8") as f:
        json.dump(entries, f, indent=1)
    print(f"wrote {len(entries)} annotated {'frames' if entries and 'frame' in entries[0] else 'images'} "
          f"and detections.json to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
