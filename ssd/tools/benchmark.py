#!/usr/bin/env python
"""Speed of a config: parameters, GFLOPs, inference latency, training step time, data pipeline.

    python tools/benchmark.py --config-file CFG [--rounds 5] [--train-batch 16] [--json] [KEY VALUE ...]
    python tools/benchmark.py --eval [--eval-images 5000] [--rounds 3]   (evaluators vs pycocotools / chainercv)

When the architecture has a torchvision counterpart (SSD300-VGG16, SSDLite320-MobileNetV3-Large)
it is timed in the same process, interleaved call by call with ours, and the report gives the
median of the per-round ratios ours / torchvision: machines drift by 20% over minutes, so only
interleaved ratios are comparable across runs. Speed targets belong here, not in timed tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import torch
import torchvision

from ssd.config import load_config
from ssd.data import COCODataset, build_dataset, measure_pipeline_throughput
from ssd.data.benchmark import samples_from_dataset
from ssd.data.synthetic import spec_for, write_coco
from ssd.modeling import build_model
from ssd.tools.args import add_overrides, entry_point, parse_args
from ssd.utils.model_stats import count_flops, count_parameters


def torchvision_counterpart(cfg) -> str | None:
    """The torchvision builder with the same architecture as ``cfg``, if there is one."""
    key = (cfg.MODEL.BACKBONE.NAME, cfg.MODEL.NECK.NAME, cfg.INPUT.IMAGE_SIZE)
    return {
        ("vgg16", "ssd_extras", 300): "ssd300_vgg16",
        ("mobilenet_v3_large", "ssdlite_extras", 320): "ssdlite320_mobilenet_v3_large",
    }.get(key)


def interleaved(fns: dict[str, Callable[[], object]], *, rounds: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each function, the functions alternating call by call."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def summarise(times: dict[str, list[float]]) -> dict[str, float]:
    out = {f"{name}_ms": 1000 * statistics.median(t) for name, t in times.items()}
    if "torchvision" in times:
        out["ratio_ours_over_torchvision"] = statistics.median(
            a / b for a, b in zip(times["ours"], times["torchvision"], strict=True))
    return out


def _targets(batch: int, size: int):
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(batch):
        xy = torch.rand(3, 2, generator=g) * size * 0.6
        wh = torch.rand(3, 2, generator=g) * size * 0.3 + size * 0.1
        out.append({"boxes": torch.cat([xy, (xy + wh).clamp(max=size)], 1), "labels": torch.tensor([1, 2, 3])})
    return out


def bench_inference(ours, tv, size: int, batch: int, rounds: int) -> dict[str, dict[str, float]]:
    images = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8)
    tv_images = [im.float() / 255 for im in images]
    ours.eval()
    network = {"ours": lambda: ours.box_head.predictor(ours.features(images))}
    full = {"ours": lambda: ours(images)}
    if tv is not None:
        tv.eval()
        x = torch.stack(tv_images)  # normalisation values do not change the cost
        network["torchvision"] = lambda: tv.head(list(tv.backbone(x).values()))
        full["torchvision"] = lambda: tv(tv_images)
    with torch.no_grad():
        return {"network": summarise(interleaved(network, rounds=rounds)),
                "full_pipeline": summarise(interleaved(full, rounds=rounds))}


def bench_train(ours, tv, size: int, batch: int, rounds: int) -> dict[str, float]:
    images = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8)
    targets = _targets(batch, size)
    ours.train()

    def step(model, *args):
        loss = sum(model(*args).values())
        loss.backward()
        model.zero_grad(set_to_none=True)

    fns = {"ours": lambda: step(ours, images, targets)}
    if tv is not None:
        tv.train()
        tv_images = [im.float() / 255 for im in images]
        fns["torchvision"] = lambda: step(tv, tv_images, targets)
    return summarise(interleaved(fns, rounds=rounds))


def bench_data(cfg, num_images: int, rounds: int) -> dict[str, float]:
    """Images/s of each training pipeline on one core, over the same images: the training set when
    it is on disk, else a few synthetic ones."""
    try:
        samples = samples_from_dataset(build_dataset(cfg, cfg.DATASETS.TRAIN[0], is_train=True), limit=50)
        source = cfg.DATASETS.TRAIN[0]
    except (IndexError, FileNotFoundError, KeyError, ValueError):
        tmp = tempfile.mkdtemp(prefix="ssd_bench_")
        write_coco(tmp, train=20, test=0, spec=spec_for("medium"))
        dataset = COCODataset(images=os.path.join(tmp, "train"),
                              annotations=os.path.join(tmp, "annotations", "instances_train.json"))
        samples = samples_from_dataset(dataset)
        source = "20 synthetic images"
    result = measure_pipeline_throughput(samples, image_size=cfg.INPUT.IMAGE_SIZE,
                                         pixel_mean=list(cfg.INPUT.PIXEL_MEAN), num_images=num_images, rounds=rounds)
    return {"images": source, **{f"{k}_images_per_s": v for k, v in result.items()}}


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default=None, help="required unless --eval")
    parser.add_argument("--rounds", type=int, default=5, help="timed calls per measurement (median)")
    parser.add_argument("--train-batch", type=int, default=16, help="batch of the training-step timing")
    parser.add_argument("--data-images", type=int, default=50, help="images per data-pipeline round")
    parser.add_argument("--skip", nargs="*", default=[], choices=["inference", "train", "data", "torchvision"])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--eval", action="store_true", help="time the evaluators only (ssd.evaluation.benchmark)")
    parser.add_argument("--eval-images", type=int, default=5000, help="images of the --eval detection set")
    add_overrides(parser)
    args = parse_args(parser, argv)
    if args.eval:
        from ssd.evaluation.benchmark import benchmark_evaluators

        print(json.dumps(benchmark_evaluators(args.eval_images, args.rounds), indent=2))
        return 0
    if args.config_file is None:
        parser.error("--config-file is required (unless --eval)")
    # timing needs no pretrained weights (and a machine without internet cannot fetch them)
    cfg = load_config(args.config_file, ["MODEL.BACKBONE.WEIGHTS", "", *args.opts])
    num_classes = cfg.MODEL.NUM_CLASSES or 81
    size = cfg.INPUT.IMAGE_SIZE
    torch.manual_seed(0)
    ours = build_model(cfg, num_classes=num_classes)
    tv_name = None if "torchvision" in args.skip else torchvision_counterpart(cfg)
    tv = None
    if tv_name:
        tv = getattr(torchvision.models.detection, tv_name)(weights=None, weights_backbone=None,
                                                            num_classes=num_classes)
        tv.transform.min_size, tv.transform.max_size = (size,), size
    report: dict = {
        "config": args.config_file, "threads": torch.get_num_threads(), "torchvision_counterpart": tv_name,
        "params_M": count_parameters(ours) / 1e6, "gflops": count_flops(ours, size) / 1e9,
    }
    if tv is not None:
        report["torchvision_params_M"] = sum(p.numel() for p in tv.parameters()) / 1e6
    if "inference" not in args.skip:
        for batch in (1, 8):
            report[f"inference_batch{batch}"] = bench_inference(ours, tv, size, batch, args.rounds)
    if "train" not in args.skip:
        report[f"train_step_batch{args.train_batch}"] = bench_train(ours, tv, size, args.train_batch, args.rounds)
    if "data" not in args.skip:
        report["data_pipeline_one_core"] = bench_data(cfg, args.data_images, max(2, args.rounds // 2))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            if isinstance(value, dict):
                print(f"{key}:")
                for k, v in value.items():
                    print(f"  {k}: {json.dumps(v) if isinstance(v, dict) else v}")
            else:
                print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
