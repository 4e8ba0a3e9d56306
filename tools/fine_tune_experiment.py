#!/usr/bin/env python
"""Fine-tuning vs training from scratch on a new class set, equal iterations, two seeds each.

    python tools/fine_tune_experiment.py --work outputs/fine_tune_experiment [--pretrain-iters 300]
        [--iters 150] [--seeds 0 1] [--config CFG --from CKPT] [KEY VALUE ...]

1. two synthetic COCO-layout sets (the quickstart's easy shapes): A with circle, square, triangle;
   B with star, square, circle (two classes shared, one new, in another order);
2. the quickstart config trained on A for --pretrain-iters;
3. on B, for --iters each and every seed: from scratch, and from A's final weights
   (``MODEL.WEIGHTS``: shared classes carried over by name, star fresh);
4. a table of COCO AP / AP50 on B's test split, and OUTPUT results.json.

``--config CFG --from CKPT`` skips steps 1-2's training: B is trained with CFG's architecture, from
scratch and from CKPT (e.g. a converted TensorFlow model; its classes need not be B's), e.g. the
real-weights comparison of docs/tensorflow.md::

    python tools/fine_tune_experiment.py --work outputs/ft_tf --iters 300 \
        --config configs/quickstart_ssdlite300_mnv2_tf.yaml \
        --from outputs/pretrained/ssdlite300_mnv2_tf_pedestrian.pth
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from ssd.data.synthetic import spec_for, write_coco

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = os.path.join(ROOT, "configs", "quickstart_ssdlite320_mnv3.yaml")
SETS = {"a": ("circle", "square", "triangle"), "b": ("star", "square", "circle")}
SPEC = {"texture": 0.0, "clutter": 0, "min_size": 0.3, "max_size": 0.6, "max_objects": 2,
        "min_side": 200, "max_side": 260}


def _config(work: str, base: str) -> str:
    path = os.path.join(work, "experiment.yaml")
    lines = [f"_BASE_: {os.path.abspath(base)}", "DATASETS:", "  CATALOG:"]
    for name in SETS:
        for split in ("train", "test"):
            lines += [f"    {name}_{split}:", "      FORMAT: coco", f"      IMAGES: {work}/{name}/{split}",
                      f"      ANNOTATIONS: {work}/{name}/annotations/instances_{split}.json"]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def _train(config: str, out: str, data: str, iters: int, seed: int, opts: list[str]) -> dict:
    metrics = os.path.join(out, "inference", f"{data}_test", "metrics.json")
    if not os.path.isfile(metrics):
        cmd = [sys.executable, "-m", "ssd", "train", "--config-file", config, "OUTPUT_DIR", out,
               "DATASETS.TRAIN", f"('{data}_train',)", "DATASETS.TEST", f"('{data}_test',)",
               "SOLVER.MAX_ITER", str(iters), "SEED", str(seed), "SOLVER.WARMUP_ITERS", str(min(50, iters // 4)),
               *opts]
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    with open(metrics, encoding="utf-8") as f:
        return json.load(f)["bbox"]["metrics"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", default="outputs/fine_tune_experiment")
    p.add_argument("--pretrain-iters", type=int, default=300)
    p.add_argument("--iters", type=int, default=150)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--train-images", type=int, default=400)
    p.add_argument("--test-images", type=int, default=100)
    p.add_argument("--config", default=BASE, help="the architecture (and schedule) of every run")
    p.add_argument("--from", dest="source", default=None,
                   help="fine-tune from this checkpoint instead of pretraining on A")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides for every run")
    args = p.parse_args()
    work = os.path.abspath(args.work)
    for i, (name, classes) in enumerate(SETS.items()):
        if not os.path.isfile(os.path.join(work, name, "annotations", "instances_test.json")):
            write_coco(os.path.join(work, name), train=args.train_images, test=args.test_images, seed=10 + i,
                       spec=spec_for("easy", classes=classes, **SPEC))
    config = _config(work, args.config)
    if args.source:
        weights = os.path.abspath(args.source)
    else:
        pretrained = os.path.join(work, "pretrain_a")
        _train(config, pretrained, "a", args.pretrain_iters, 0, args.opts)
        weights = os.path.join(pretrained, "model_best.pth")
    results = []
    for seed in args.seeds:
        for start in ("scratch", "fine-tune"):
            extra = ["MODEL.WEIGHTS", weights if start == "fine-tune" else ""]  # scratch: even when the config sets one
            out = os.path.join(work, f"b_{start}_seed{seed}")
            m = _train(config, out, "b", args.iters, seed, [*args.opts, *extra])
            results.append({"start": start, "seed": seed, "AP": m["AP"], "AP50": m["AP50"]})
    with open(os.path.join(work, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    print(f"\n{'start':<10} {'seed':>4} {'AP':>6} {'AP50':>6}  ({args.iters} iterations on B each)")
    for r in results:
        print(f"{r['start']:<10} {r['seed']:>4} {r['AP']:>6.3f} {r['AP50']:>6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
