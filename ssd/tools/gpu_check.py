#!/usr/bin/env python
"""One command for a CUDA machine (<= 8 minutes on one GPU): writes one JSON file of results.

    python tools/gpu_check.py [--output outputs/gpu_check.json] [--iters 200] [--dry-run]

1. the CUDA-marked tests (``pytest -m cuda``);
2. ``--iters`` training iterations of SSDLite320-MNv3 and SSD300-VGG16 on a synthetic set with AMP
   fp16 (gradient scaler) and bf16, channels_last: loss decreasing, no NaN, training images/s at
   the recipes' SOLVER.BATCH_SIZE;
3. SyncBatchNorm: conversion and one training step in a one-process NCCL group;
4. inference images/s at TEST.BATCH_SIZE (fp16 autocast + channels_last);
5. ONNX Runtime's CUDA provider against PyTorch, when that provider is installed.

``--dry-run`` runs the same code on the CPU with tiny sizes (a few iterations, 128 px, batch 2)
and skips the pytest step: that is what the CPU test suite checks.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import replace

import torch
from torch import nn

from ssd.tools.args import entry_point
from ssd.tools.args import parse_args as parse_tool_args

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARCHS = {"ssdlite320_mnv3": "configs/ssdlite320_mnv3_coco.yaml", "ssd300_vgg16": "configs/ssd300_vgg16_coco.yaml"}
PRECISIONS = ("fp16", "bf16")


def write_results(path: str, results: dict) -> None:
    """``results`` as indented JSON at ``path`` (written to a temporary file, then renamed)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2, allow_nan=False, default=str)
    os.replace(tmp, path)


def run_step(results: dict, name: str, fn: Callable[[], dict]) -> None:
    """``results[name] = {"status": ok | failed | skipped, "seconds", ...}`` from ``fn()``; a failure
    is recorded with its message, not raised, so one broken part does not hide the others."""
    start = time.perf_counter()
    try:
        out = fn()
        entry = {"status": out.pop("status", "ok"), **out}
    except Exception as e:  # noqa: BLE001  - the check reports every failure
        entry = {"status": "failed", "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=5)}
    entry["seconds"] = round(time.perf_counter() - start, 2)
    results[name] = entry
    print(f"[gpu_check] {name}: {entry['status']} ({entry['seconds']} s)", flush=True)


def cuda_tests() -> dict:
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "cuda", "tests"], cwd=ROOT,
                          capture_output=True, text=True, timeout=240)
    tail = proc.stdout.strip().splitlines()[-1:] or [""]
    return {"status": "ok" if proc.returncode in (0, 5) else "failed", "returncode": proc.returncode,
            "summary": tail[0]}


def _config(arch: str, dataset_root: str, opts: list[str]):
    from ssd.config import load_config

    return load_config(os.path.join(ROOT, ARCHS[arch]), [
        "MODEL.BACKBONE.WEIGHTS", "", "MODEL.NUM_CLASSES", "0", "DATASETS.ROOT", dataset_root,
        "DATASETS.TRAIN", "('synthetic_coco_train',)", "DATASETS.TEST", "('synthetic_coco_test',)", *opts])


def train_run(arch: str, precision: str, *, device: torch.device, dataset_root: str, iters: int, opts: list[str],
              sync_bn: bool = False) -> dict:
    """``iters`` steps with AMP ``precision`` and channels_last; loss at the start and the end."""
    from ssd.data import build_train_loader, class_names_for
    from ssd.modeling import build_model
    from ssd.solver import build_optimizer

    cfg = _config(arch, dataset_root, ["SOLVER.MAX_ITER", str(iters), *opts])
    torch.manual_seed(0)
    model = build_model(cfg, num_classes=len(class_names_for(cfg)) + 1)
    if sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model = model.to(device, memory_format=torch.channels_last).train()
    optimizer = build_optimizer(cfg, model)
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    losses: list[float] = []
    images_seen, start = 0, None
    for step, (images, targets, _) in enumerate(build_train_loader(cfg)):
        if step == 1:  # the first step pays for kernel selection and loader start
            if device.type == "cuda":
                torch.cuda.synchronize()
            start, images_seen = time.perf_counter(), 0
        images = images.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
        with torch.autocast(device.type, dtype=dtype):
            loss = sum(model(images, targets).values())
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        losses.append(float(loss))
        images_seen += len(images)
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start if start else float("nan")
    window = max(1, min(20, len(losses) // 4))
    first, last = sum(losses[:window]) / window, sum(losses[-window:]) / window
    finite = all(math.isfinite(v) for v in losses)
    return {"status": "ok" if finite and last < first else "failed", "iterations": len(losses),
            "batch": cfg.SOLVER.BATCH_SIZE, "loss_first": first, "loss_last": last, "no_nan": finite,
            "train_images_per_s": images_seen / elapsed if elapsed > 0 else None,
            **({"sync_bn_layers": sum(isinstance(m, nn.SyncBatchNorm) for m in model.modules())} if sync_bn else {})}


def sync_bn_check(*, device: torch.device, dataset_root: str, opts: list[str]) -> dict:
    """SyncBatchNorm conversion and two steps in a one-process group (NCCL on CUDA)."""
    import torch.distributed as dist

    if device.type != "cuda":
        from ssd.modeling import build_model

        model = nn.SyncBatchNorm.convert_sync_batchnorm(build_model(_config("ssdlite320_mnv3", dataset_root, opts),
                                                                    num_classes=5))
        return {"status": "ok", "sync_bn_layers": sum(isinstance(m, nn.SyncBatchNorm) for m in model.modules()),
                "note": "conversion only: SyncBatchNorm runs on CUDA"}
    dist.init_process_group("nccl", init_method="tcp://127.0.0.1:29533", world_size=1, rank=0)
    try:
        return train_run("ssdlite320_mnv3", "bf16", device=device, dataset_root=dataset_root, iters=3, opts=opts,
                         sync_bn=True)
    finally:
        dist.destroy_process_group()


def inference_speed(arch: str, *, device: torch.device, opts: list[str], rounds: int) -> dict:
    from ssd.modeling import build_model

    cfg = _config(arch, "unused", opts)
    model = build_model(cfg, num_classes=81).to(device, memory_format=torch.channels_last).eval()
    batch, size = cfg.TEST.BATCH_SIZE, cfg.INPUT.IMAGE_SIZE
    images = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, device=device)
    images = images.contiguous(memory_format=torch.channels_last)
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    times = []
    with torch.no_grad(), torch.autocast(device.type, dtype=dtype):
        for i in range(rounds + 1):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            model(images)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - start)
    median = sorted(times)[len(times) // 2]
    return {"batch": batch, "precision": str(dtype).removeprefix("torch."), "median_ms": 1000 * median,
            "images_per_s": batch / median}


def onnxruntime_cuda_parity(*, opts: list[str]) -> dict:
    try:
        import onnx
        import onnxruntime
    except ImportError:
        return {"status": "skipped", "reason": "onnx / onnxruntime not installed"}
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return {"status": "skipped", "reason": "onnxruntime has no CUDAExecutionProvider (pip install onnxruntime-gpu)"}
    from ssd.export import OnnxRuntimeDetector, export_detector
    from ssd.modeling import build_model

    cfg = _config("ssdlite320_mnv3", "unused", [*opts, "TEST.CONFIDENCE_THRESHOLD", "0.3"])
    torch.manual_seed(0)
    model = build_model(cfg, num_classes=5).eval()
    images = torch.randint(0, 256, (2, 3, cfg.INPUT.IMAGE_SIZE, cfg.INPUT.IMAGE_SIZE), dtype=torch.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        onnx.save(export_detector(model, class_names=["a", "b", "c", "d"]), path)
        backend = OnnxRuntimeDetector(path, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
        actual = backend(images)
    with torch.no_grad():
        expected = model(images)
    counts = [(len(e["scores"]), len(a["scores"])) for e, a in zip(expected, actual, strict=True)]
    diffs = [float((e["scores"][:10] - a["scores"][:10]).abs().max()) if len(e["scores"]) and len(a["scores"])
             and len(e["scores"]) == len(a["scores"]) else None for e, a in zip(expected, actual, strict=True)]
    return {"status": "ok" if all(x == y for x, y in counts) else "failed", "counts_torch_vs_ort": counts,
            "max_top10_score_diff": diffs, "providers": backend.session.get_providers()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=os.path.join("outputs", "gpu_check.json"), help="JSON file of results")
    parser.add_argument("--iters", type=int, default=200, help="training iterations per architecture and precision")
    parser.add_argument("--archs", nargs="+", default=list(ARCHS), choices=list(ARCHS))
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=list(PRECISIONS))
    parser.add_argument("--train-images", type=int, default=512, help="size of the synthetic training set")
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, no pytest: checks the script")
    args = parse_tool_args(parser, argv)
    if os.path.isdir(args.output):
        parser.error(f"--output {args.output} is a folder; give the JSON file to write")
    if args.iters < 2:
        parser.error(f"--iters {args.iters}: need at least 2 to compare losses")
    return args


@entry_point
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from ssd.data.synthetic import spec_for, write_coco

    if args.dry_run:
        device = torch.device("cpu")
        opts = ["INPUT.IMAGE_SIZE", "128", "SOLVER.BATCH_SIZE", "2", "TEST.BATCH_SIZE", "2",
                "DATALOADER.NUM_WORKERS", "0", "MODEL.DEVICE", "cpu"]
        train_images = min(args.train_images, 8)
    else:
        if not torch.cuda.is_available():
            print("gpu_check: no CUDA device here (use --dry-run to check the script on the CPU)", file=sys.stderr)
            return 2
        device, train_images = torch.device("cuda"), args.train_images
        opts = ["DATALOADER.NUM_WORKERS", str(min(8, os.cpu_count() or 1)), "MODEL.DEVICE", "cuda"]
    results: dict = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
                     "dry_run": args.dry_run, "torch": torch.__version__, "iters": args.iters}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ssd_gpu_check_") as root:
        spec = spec_for("easy") if not args.dry_run else replace(spec_for("easy"), min_side=120, max_side=160)
        write_coco(os.path.join(root, "synthetic_coco"), train=train_images, test=2, seed=0, spec=spec)
        if args.dry_run:
            results["cuda_tests"] = {"status": "skipped", "reason": "dry run"}
        else:
            run_step(results, "cuda_tests", cuda_tests)
        for arch in args.archs:
            for precision in args.precisions:
                run_step(results, f"train_{arch}_{precision}_channels_last",
                         lambda a=arch, p=precision: train_run(a, p, device=device, dataset_root=root,
                                                               iters=args.iters, opts=opts))
            run_step(results, f"inference_{arch}",
                     lambda a=arch: inference_speed(a, device=device, opts=opts, rounds=3 if args.dry_run else 20))
        run_step(results, "sync_bn", lambda: sync_bn_check(device=device, dataset_root=root, opts=opts))
        run_step(results, "onnxruntime_cuda", lambda: onnxruntime_cuda_parity(opts=opts))
    results["total_seconds"] = round(time.perf_counter() - start, 1)
    results["all_ok"] = all(v.get("status") in ("ok", "skipped") for v in results.values() if isinstance(v, dict))
    write_results(args.output, results)
    print(f"[gpu_check] wrote {args.output}: {'all ok' if results['all_ok'] else 'FAILURES'} "
          f"in {results['total_seconds']} s")
    return 0 if results["all_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
