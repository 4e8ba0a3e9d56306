#!/usr/bin/env python
"""Speed of a config on every available backend, against torchvision's full pipeline.

    python tools/benchmark.py --config-file CFG [--rounds 5] [--batches 1 8] [--train-batch 4] [--json]
        [--skip inference train data torchvision onnxruntime int8] [KEY VALUE ...]
    python tools/benchmark.py --eval [--eval-images 5000] [--rounds 3]   (COCO evaluator vs pycocotools, VOC alone)

Inference backends (full pipeline: uint8 images in, detections out): ``torch_fp32`` (eager, as
trained), ``torch_fp32_cl`` (BatchNorm folded + channels_last), ``torch_bf16_cl`` (folded +
channels_last + bf16 autocast), ``onnxruntime_fp32`` and ``onnxruntime_int8`` (the graphs of
tools/export.py, NMS inside; int8 calibrated on random images, which sets its speed, not its
accuracy). All of them and torchvision's ``model([image])`` (when the architecture has a
torchvision counterpart) run interleaved in one process, round by round (each backend 3 calls in a
row, the last timed: see :func:`interleaved`); the report gives per backend the median ms and the
median over rounds of the per-round ratio backend / torchvision, and the in-graph postprocess's
share of the ONNX network time (the two raw sessions alone). Training steps: fp32 eager vs
channels_last vs bf16 autocast + channels_last, ratio to the fp32 step.
Machines drift over minutes, so only interleaved ratios compare across runs; fewer than 5 rounds
give noise.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
from collections.abc import Callable

# torch, torchvision and the heavy ssd modules are imported where they are used, so that
# 'ssd bench --help' answers without them; the report's arithmetic and tables need none
from ssd.tools.args import add_overrides, entry_point, parse_args
from ssd.utils.logger import setup_tool_logging
from ssd.utils.timing import interleaved

TORCHVISION = "torchvision"
MIN_ROUNDS = 5
POSTPROCESS_ROUNDS = 30  # cheap calls, a small difference: more rounds than the table
INFERENCE_CALLS = 3  # calls per backend and round, the last one timed (interleaved)


def torchvision_counterpart(cfg) -> str | None:
    """The torchvision builder with the same architecture as ``cfg``, if there is one."""
    key = (cfg.MODEL.BACKBONE.NAME, cfg.MODEL.NECK.NAME, cfg.INPUT.IMAGE_SIZE)
    return {
        ("vgg16", "ssd_extras", 300): "ssd300_vgg16",
        ("mobilenet_v3_large", "ssdlite_extras", 320): "ssdlite320_mobilenet_v3_large",
    }.get(key)


def summarise(times: dict[str, list[float]], *, reference: str | None) -> dict[str, dict[str, float]]:
    """Per name ``{"median_ms", "ratio_to_<reference>"}``: the ratio is the median over rounds of
    the per-round ratio (robust to drift), absent without a reference."""
    out: dict[str, dict[str, float]] = {}
    for name, t in times.items():
        entry = {"median_ms": 1000 * statistics.median(t)}
        if reference in times and name != reference:
            entry[f"ratio_to_{reference}"] = statistics.median(a / b for a, b in zip(t, times[reference], strict=True))
        out[name] = entry
    return out


def _targets(batch: int, size: int):
    import torch

    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(batch):
        xy = torch.rand(3, 2, generator=g) * size * 0.6
        wh = torch.rand(3, 2, generator=g) * size * 0.3 + size * 0.1
        out.append({"boxes": torch.cat([xy, (xy + wh).clamp(max=size)], 1), "labels": torch.tensor([1, 2, 3])})
    return out


def build_backends(ours, *, skip: set[str], workdir: str, log: logging.Logger) -> dict[str, Callable]:
    """name -> an eval-mode callable ``images -> detections`` for each backend available here."""
    import torch

    from ssd.export.cpu import cpu_has_bf16, prepare_for_cpu

    ours.eval()
    backends: dict[str, Callable] = {
        "torch_fp32": ours,
        "torch_fp32_cl": prepare_for_cpu(ours, fold_bn=True, channels_last=True),
    }
    if cpu_has_bf16():
        backends["torch_bf16_cl"] = prepare_for_cpu(ours, fold_bn=True, channels_last=True, bf16=True)
    else:
        log.warning("no native bf16 on this CPU: torch_bf16_cl is not timed")
    if "onnxruntime" in skip:
        return backends
    try:
        import onnx

        from ssd.export.onnx import export_detector, export_network
        from ssd.export.runtime import OnnxRuntimeDetector
    except ImportError as e:
        log.warning("onnx / onnxruntime not installed (%s): ONNX Runtime backends not timed", e)
        return backends
    names = [f"c{i}" for i in range(ours.box_head.predictor.num_classes - 1)]
    network = export_network(ours)
    graphs = {"onnxruntime_fp32": export_detector(ours, class_names=names, network=network),
              "onnxruntime_fp32_network": export_detector(ours, class_names=names, network=network,
                                                          postprocess=False)}
    if "int8" not in skip:
        from ssd.export.quantize import quantize_network

        g = torch.Generator().manual_seed(0)
        size = ours.image_size
        calib = [torch.randint(0, 256, (1, 3, size, size), generator=g, dtype=torch.uint8).numpy() for _ in range(4)]
        graphs["onnxruntime_int8"] = export_detector(ours, class_names=names,
                                                     network=quantize_network(network, calib, method="minmax"))
    for name, graph in graphs.items():
        path = os.path.join(workdir, f"{name}.onnx")
        onnx.save(graph, path)
        backends[name] = OnnxRuntimeDetector(path)
    # the network-only graph's session alone (no postprocess anywhere): the base of the postprocess share
    network_only = backends["onnxruntime_fp32_network"]
    backends["onnxruntime_fp32_network"] = lambda images: network_only.run(images.numpy())
    return backends


def bench_inference(backends: dict[str, Callable], tv, size: int, batch: int, rounds: int):
    """Full pipeline per backend (and torchvision's ``model(list of images)``) at ``batch``."""
    import torch

    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=g)
    fns = {name: (lambda b=b: b(images)) for name, b in backends.items()}
    if tv is not None:
        tv.eval()
        tv_images = [im.float() / 255 for im in images]
        fns[TORCHVISION] = lambda: tv(tv_images)
    with torch.no_grad():
        return summarise(interleaved(fns, rounds=rounds, calls=INFERENCE_CALLS),
                         reference=TORCHVISION if tv is not None else None)


def postprocess_share(times: dict[str, list[float]]) -> dict[str, float]:
    """``{"full": seconds, "network": seconds}`` per round (the full ONNX graph and the network-only
    graph) -> the postprocess's ms and its fraction of the network's time, medians over rounds."""
    full, net = times["full"], times["network"]
    return {"network_ms": 1000 * statistics.median(net), "full_ms": 1000 * statistics.median(full),
            "postprocess_ms": 1000 * statistics.median(f - n for f, n in zip(full, net, strict=True)),
            "fraction_of_network": statistics.median((f - n) / n for f, n in zip(full, net, strict=True))}


def bench_postprocess(full, network: Callable, size: int, rounds: int) -> dict[str, float]:
    """The in-graph postprocess at batch 1: the full graph's session against the network-only one,
    interleaved with nothing else in between (their difference is small beside either)."""
    import torch

    images = torch.randint(0, 256, (1, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    array = images.numpy()
    return postprocess_share(interleaved({"full": lambda: full.run(array), "network": lambda: network(images)},
                                         rounds=rounds))


def bench_train(cfg, num_classes: int, size: int, batch: int, rounds: int, *, bf16: bool) -> dict:
    """One training step (forward, loss, backward) per variant, interleaved; ratios to fp32."""
    import torch

    from ssd.modeling import build_model

    images = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8)
    targets = _targets(batch, size)
    torch.manual_seed(0)
    fp32 = build_model(cfg, num_classes=num_classes).train()
    cl = build_model(cfg, num_classes=num_classes).train().to(memory_format=torch.channels_last)
    cl_images = images.contiguous(memory_format=torch.channels_last)

    def step(model, x, autocast: bool):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = sum(model(x, targets).values())
        loss.backward()
        model.zero_grad(set_to_none=True)

    fns = {"fp32": lambda: step(fp32, images, False), "fp32_cl": lambda: step(cl, cl_images, False)}
    if bf16:
        fns["bf16_cl"] = lambda: step(cl, cl_images, True)
    return {"batch": batch, **summarise(interleaved(fns, rounds=rounds), reference="fp32")}


def bench_data(cfg, num_images: int, rounds: int) -> dict[str, float]:
    """Images/s of each training pipeline on one core, over the same images: the training set when
    it is on disk, else a few synthetic ones."""
    from ssd.data import COCODataset, build_dataset, measure_pipeline_throughput
    from ssd.data.benchmark import samples_from_dataset
    from ssd.data.synthetic import spec_for, write_coco

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


def _cell(entry: dict | None, key: str, fmt: str) -> str:
    return format(entry[key], fmt) if entry and key in entry else "-"


def benchmark_num_classes(configured: int) -> tuple[int, str]:
    """``(classes timed including background, a note saying so when they are not the config's)``:
    ``MODEL.NUM_CLASSES 0`` means "from the data", which a benchmark does not read, so COCO's 81
    are timed (the head's size and the postprocess depend on it)."""
    if configured:
        return configured, ""
    return 81, ("MODEL.NUM_CLASSES is 0 (taken from the data, not read here): timing 81 classes (COCO's 80 + "
                "background); pass MODEL.NUM_CLASSES <your classes + 1> to time your model's head")


def format_report(report: dict) -> str:
    """The README's tables for one config: inference per backend and batch (median ms, ratio to
    torchvision), the training step, the postprocess share and the data pipelines."""
    classes = f"{report['num_classes']} classes (background included), " if "num_classes" in report else ""
    lines = [f"{report['config']}: {classes}{report['params_M']:.2f} M parameters, {report['gflops']:.2f} GFLOPs, "
             f"{report['threads']} threads, {report['rounds']} rounds, load average {report['load_average']}"]
    if report.get("num_classes_note"):
        lines.append(f"note: {report['num_classes_note']}")
    inference = report.get("inference") or {}
    if inference:
        batches = sorted(inference, key=lambda k: int(k.removeprefix("batch")))
        head = " | ".join(f"{b.replace('batch', 'batch ')} ms | ratio" for b in batches)
        lines += ["", f"| backend | {head} |", "|---|" + "---:|---:|" * len(batches)]
        names = list(dict.fromkeys(n for b in batches for n in inference[b]))
        for name in names:
            cells = " | ".join(f"{_cell(inference[b].get(name), 'median_ms', '.1f')} | "
                               f"{_cell(inference[b].get(name), 'ratio_to_torchvision', '.2f')}" for b in batches)
            lines.append(f"| {name} | {cells} |")
    if report.get("postprocess"):
        p = report["postprocess"]
        lines += ["", f"postprocess in the ONNX graph (untrained weights, every score above the threshold): "
                      f"{p['postprocess_ms']:.1f} ms = {100 * p['fraction_of_network']:.0f} % of the network's "
                      f"{p['network_ms']:.1f} ms (batch 1)"]
    if report.get("train"):
        t = report["train"]
        lines += ["", f"| training step, batch {t['batch']} | ms | ratio to fp32 |", "|---|---:|---:|"]
        for name in ("fp32", "fp32_cl", "bf16_cl"):
            if name in t:
                lines.append(f"| {name} | {t[name]['median_ms']:.0f} | {_cell(t[name], 'ratio_to_fp32', '.2f')} |")
    if report.get("data_pipeline_one_core"):
        d = report["data_pipeline_one_core"]
        rates = ", ".join(f"{k.removesuffix('_images_per_s')} {v:.0f}" for k, v in d.items() if k != "images")
        lines += ["", f"data pipelines, images/s on one core ({d['images']}): {rates}"]
    return "\n".join(lines)


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default=None, help="required unless --eval")
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS, help="timed calls per measurement (median)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8], help="inference batch sizes")
    parser.add_argument("--train-batch", type=int, default=4, help="batch of the training-step timing")
    parser.add_argument("--data-images", type=int, default=50, help="images per data-pipeline round")
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["inference", "train", "data", "torchvision", "onnxruntime", "int8"])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    parser.add_argument("--eval", action="store_true", help="time the evaluators only (ssd.evaluation.benchmark)")
    parser.add_argument("--eval-images", type=int, default=5000, help="images of the --eval detection set")
    add_overrides(parser)
    args = parse_args(parser, argv)
    log = logging.getLogger("ssd.benchmark")
    setup_tool_logging(logging.WARNING)
    log.setLevel(logging.INFO)  # progress on stderr: a full run takes minutes
    if args.rounds < MIN_ROUNDS:
        log.warning("%d rounds: fewer than %d give noise, not measurements", args.rounds, MIN_ROUNDS)
    if args.eval:
        from ssd.evaluation.benchmark import benchmark_evaluators

        print(json.dumps(benchmark_evaluators(args.eval_images, args.rounds), indent=2))
        return 0
    if args.config_file is None:
        parser.error("--config-file is required (unless --eval)")
    import torch
    import torchvision

    from ssd.config import load_config
    from ssd.export.cpu import cpu_has_bf16
    from ssd.modeling import build_model
    from ssd.utils.model_stats import count_flops, count_parameters

    skip = set(args.skip)
    # timing needs no pretrained weights (and a machine without internet cannot fetch them)
    cfg = load_config(args.config_file, ["MODEL.BACKBONE.WEIGHTS", "", *args.opts])
    num_classes, classes_note = benchmark_num_classes(cfg.MODEL.NUM_CLASSES)
    if classes_note:
        log.warning("%s", classes_note)
    size = cfg.INPUT.IMAGE_SIZE
    torch.manual_seed(0)
    ours = build_model(cfg, num_classes=num_classes).eval()
    tv_name = None if "torchvision" in skip else torchvision_counterpart(cfg)
    tv = None
    if tv_name:
        tv = getattr(torchvision.models.detection, tv_name)(weights=None, weights_backbone=None,
                                                            num_classes=num_classes)
        tv.transform.min_size, tv.transform.max_size = (size,), size
    report: dict = {
        "config": args.config_file, "threads": torch.get_num_threads(), "rounds": args.rounds,
        "load_average": [round(x, 1) for x in os.getloadavg()], "cpu_bf16": cpu_has_bf16(),
        "torchvision_counterpart": tv_name,
        "num_classes": num_classes, "num_classes_note": classes_note,
        "params_M": count_parameters(ours) / 1e6, "gflops": count_flops(ours, size) / 1e9,
    }
    if "inference" not in skip:
        with tempfile.TemporaryDirectory(prefix="ssd_bench_") as workdir:
            backends = build_backends(ours, skip=skip, workdir=workdir, log=log)
            report["inference"] = {}
            for b in args.batches:
                log.info("timing inference at batch %d: %d backends x %d rounds ...", b, len(backends), args.rounds)
                report["inference"][f"batch{b}"] = bench_inference(backends, tv, size, b, args.rounds)
            if "onnxruntime_fp32" in backends:
                report["postprocess"] = bench_postprocess(backends["onnxruntime_fp32"],
                                                          backends["onnxruntime_fp32_network"], size,
                                                          rounds=max(POSTPROCESS_ROUNDS, args.rounds))
    if "train" not in skip:
        log.info("timing training steps at batch %d: %d rounds ...", args.train_batch, args.rounds)
        report["train"] = bench_train(cfg, num_classes, size, args.train_batch, args.rounds, bf16=cpu_has_bf16())
    if "data" not in skip:
        log.info("timing the data pipelines on %d images ...", args.data_images)
        report["data_pipeline_one_core"] = bench_data(cfg, args.data_images, max(2, args.rounds // 2))
    # (the evaluation helper's --eval section goes here: report["eval"] = ...)
    report["load_average_end"] = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
