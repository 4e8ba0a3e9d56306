#!/usr/bin/env python
"""Detect objects in images, a video, a webcam or a stream; write annotated copies and detections.json.

    ssd demo --ckpt outputs/quickstart/model_best.pth --images demo/ --output demo/output
    python tools/demo.py --ckpt PATH_OR_URL --images SOURCE [--config-file CFG] [--output DIR]
        [--score-threshold T] [--max-frames N] [KEY VALUE ...]

SOURCE is one of:
  a folder        every .jpg/.jpeg/.png/.bmp/.webp (any case) in it, sorted
  a file          an image, or a video (.mp4/.avi/.mov/.mkv/.webm) -> <name>_det.mp4
  a glob          'photos/*.jpg' (quoted, so the shell leaves it alone)
  a webcam index  0, 1, ... (Ctrl-C or --max-frames ends it) -> webcam<i>_det.mp4
  a stream URL    rtsp://..., http://... that OpenCV opens -> stream_det.mp4

Annotated copies keep the inputs' paths relative to the folder (or the glob's common folder), so
'a/same.jpg' and 'b/same.jpg' stay two files; an --output folder that holds the inputs is refused
(the copies would overwrite the originals). Photos are turned upright as their EXIF orientation says.

The model, its input size and its class names come from the checkpoint; --config-file and
KEY VALUE overrides win when given. Images are decoded by the training decoder; an unreadable one
is skipped with a warning and counted. Annotated videos are H.264 MP4 (VP9 WebM without libx264),
which browsers play.
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import re
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ssd.engine.predictor import Predictor

from ssd.tools.args import add_overrides, entry_point, parse_args
from ssd.utils.logger import setup_tool_logging

logger = logging.getLogger("ssd.demo")

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm")
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp")

_BACKENDS = ("torch", "onnxruntime")  # ssd.export.backends.BACKENDS; named here so --help needs no torch


@dataclass(frozen=True)
class Source:
    """What ``--images`` names: ``kind`` is ``"images"`` (``paths``, named in the output by their
    path relative to ``root``), ``"video"`` (a file), ``"webcam"`` (``index``) or ``"stream"`` (``url``)."""

    kind: str
    paths: tuple[str, ...] = ()
    index: int = 0
    url: str = ""
    root: str = ""

    def relative_name(self, path: str) -> str:
        """``path`` relative to ``root`` (its base name when there is no root)."""
        return os.path.relpath(path, self.root) if self.root else os.path.basename(path)

    @property
    def capture_target(self) -> str | int:
        return {"video": self.paths[0] if self.paths else "", "webcam": self.index, "stream": self.url}[self.kind]

    @property
    def output_stem(self) -> str:
        if self.kind == "video":
            return os.path.splitext(os.path.basename(self.paths[0]))[0]
        return f"webcam{self.index}" if self.kind == "webcam" else "stream"


def parse_source(spec: str) -> list[Source]:
    """The sources ``--images spec`` names (a glob may match images and videos). Raises
    ``FileNotFoundError`` naming ``spec`` when it is none of the kinds in the module doc."""
    if re.fullmatch(r"\d+", spec) and not os.path.exists(spec):
        return [Source(kind="webcam", index=int(spec))]
    if "://" in spec and spec.split("://", 1)[0].lower() in STREAM_SCHEMES:
        return [Source(kind="stream", url=spec)]
    if os.path.isdir(spec):
        names = sorted(n for n in os.listdir(spec) if n.lower().endswith(IMAGE_EXTS))
        if not names:
            raise FileNotFoundError(f"--images {spec}: no images ({'/'.join(IMAGE_EXTS)}) in this folder")
        return [Source(kind="images", paths=tuple(os.path.join(spec, n) for n in names), root=spec)]
    files = [spec] if os.path.isfile(spec) else sorted(glob.glob(spec)) if glob.has_magic(spec) else []
    if not files:
        raise FileNotFoundError(f"--images {spec}: no such file, folder, glob match, webcam index or stream URL")
    images = tuple(f for f in files if not f.lower().endswith(VIDEO_EXTS) and os.path.isfile(f))
    root = os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in images]) if images else ""
    sources = [Source(kind="images", paths=images, root=root)] if images else []
    return sources + [Source(kind="video", paths=(f,)) for f in files if f.lower().endswith(VIDEO_EXTS)]


def check_output_holds_no_input(sources: list[Source], output: str) -> None:
    """Raise ``ValueError`` when an input image lies inside ``output`` (its annotated copy could
    overwrite it, or a rerun would annotate the annotated copies)."""
    out = os.path.realpath(output)
    for source in sources:
        for path in source.paths if source.kind == "images" else ():
            if os.path.commonpath([out, os.path.realpath(path)]) == out:
                raise ValueError(f"--output {output} holds the input image {path}: the annotated copies would "
                                 "overwrite the originals; choose an --output folder outside the inputs")


def run_images(source: Source, predictor: Predictor, output: str) -> tuple[list[dict], list[str]]:
    import cv2  # cv2, tqdm and the library after --help
    from tqdm import tqdm

    from ssd.data.image_io import CorruptImageError

    """Annotated copies in ``output`` under each input's path relative to ``source.root``; returns
    the JSON entries (``file_name``: that relative path) and the paths skipped as unreadable."""
    entries, skipped = [], []
    paths = source.paths
    for i, path in enumerate(tqdm(paths, desc="images", dynamic_ncols=True)):
        start = time.perf_counter()
        try:
            result = predictor(path)
        except CorruptImageError as e:
            logger.warning("skipped: %s", e)
            skipped.append(path)
            continue
        ms = 1000 * (time.perf_counter() - start)
        name = source.relative_name(path)
        target = os.path.join(output, name)
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        if not cv2.imwrite(target, result.plot()):
            raise OSError(f"cannot write {target}")
        entries.append({**result.to_dict(), "file_name": name})
        tqdm.write(f"({i + 1}/{len(paths)}) {name}: {len(result)} objects, {ms:.0f} ms")
    return entries, skipped


def run_capture(source: Source, predictor: Predictor, output: str, *, max_frames: int = 0) -> list[dict]:
    import cv2  # cv2, tqdm and the library after --help
    from tqdm import tqdm

    from ssd.utils.video import BrowserVideoWriter

    """Read frames with OpenCV (video file, webcam, stream), write the annotated video; returns
    one JSON entry per frame. Progress shows frames done / total when the source knows its length."""
    capture = cv2.VideoCapture(source.capture_target)
    if not capture.isOpened():
        raise OSError(f"--images {source.capture_target}: OpenCV cannot open this {source.kind}")
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    total = min(total, max_frames) if total > 0 and max_frames else (total if total > 0 else (max_frames or None))
    name = os.path.basename(source.paths[0]) if source.kind == "video" else str(source.capture_target)
    entries: list[dict] = []
    writer = BrowserVideoWriter(os.path.join(output, source.output_stem + "_det"), fps=capture.get(cv2.CAP_PROP_FPS))
    bar = tqdm(total=total, desc=f"{source.kind} frames", unit="frame", dynamic_ncols=True)
    try:
        while not max_frames or writer.frames < max_frames:
            ok, bgr = capture.read()
            if not ok:
                break
            result = predictor(bgr)
            writer.write(result.plot())
            entries.append({**result.to_dict(), "file_name": name, "frame": writer.frames - 1})
            bar.update(1)
    except KeyboardInterrupt:
        logger.info("interrupted: closing %s", writer.path)
    finally:
        bar.close()
        capture.release()
        writer.close()
    if writer.frames:
        print(f"wrote {writer.frames} frames to {writer.path} ({writer.codec})")
    return entries


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", default=None, help="checkpoint path or URL (holds the config and class names)")
    parser.add_argument("--backend", default="torch", choices=_BACKENDS,
                        help="run the checkpoint in PyTorch, or the --onnx file in ONNX Runtime")
    parser.add_argument("--onnx", default=None, help="ONNX file of tools/export.py (with --backend onnxruntime)")
    parser.add_argument("--images", required=True, help="a folder, image, glob, video, webcam index or stream URL")
    parser.add_argument("--config-file", default=None, help="YAML config (default: the one stored in --ckpt)")
    parser.add_argument("--output", default="demo/output", help="folder for annotated copies and detections.json")
    parser.add_argument("--score-threshold", type=float, default=0.5, help="minimum score drawn and listed")
    parser.add_argument("--max-frames", type=int, default=0, help="stop a video, webcam or stream after N frames")
    add_overrides(parser)
    args = parse_args(parser, argv)
    setup_tool_logging(logging.INFO)
    from ssd.engine.predictor import Predictor
    from ssd.export.backends import inference_backend


    sources = parse_source(args.images)
    check_output_holds_no_input(sources, args.output)
    if args.backend == "torch":  # the checkpoint's model; an exported file names its own classes
        if not args.ckpt:
            raise ValueError("--backend torch needs --ckpt PATH_OR_URL")
        predictor = Predictor.from_checkpoint(args.ckpt, config_file=args.config_file, opts=args.opts,
                                              score_threshold=args.score_threshold)
    else:
        detector = inference_backend(args.backend, onnx=args.onnx)
        predictor = Predictor(backend=detector, image_size=detector.image_size, class_layout=detector.class_layout,
                              score_threshold=args.score_threshold, resize_mode=detector.resize_mode)
    os.makedirs(args.output, exist_ok=True)
    entries: list[dict] = []
    skipped: list[str] = []
    for source in sources:
        if source.kind == "images":
            found, bad = run_images(source, predictor, args.output)
            entries += found
            skipped += bad
        else:
            entries += run_capture(source, predictor, args.output, max_frames=args.max_frames)
    with open(os.path.join(args.output, "detections.json"), "w", encoding="utf-8") as f:
        json.dump(entries, f, indent=1)
    frames = sum("frame" in e for e in entries)
    print(f"wrote {len(entries) - frames} annotated images, {frames} video frames and detections.json "
          f"to {args.output}" + (f"; skipped {len(skipped)} unreadable inputs" if skipped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
