"""The ``ssd`` command: ``ssd <command> [options] [KEY VALUE ...]``, one subcommand per tool.

Each command runs ``ssd.tools.<module>.main(argv)``, the code ``tools/<module>.py`` runs, so
``ssd train ...`` and ``python tools/train.py ...`` are the same thing. Installed as a console
script by ``pip install -e .``; ``python -m ssd`` works without installing.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from . import __version__


@dataclass(frozen=True)
class Command:
    module: str  # ssd.tools.<module>
    summary: str
    example: str


COMMANDS: dict[str, Command] = {
    "train": Command("train", "train a detector; rerunning resumes from OUTPUT_DIR's last checkpoint",
                     "ssd train --config-file configs/quickstart_ssdlite320_mnv3.yaml SOLVER.MAX_ITER 100"),
    "test": Command("test", "evaluate a checkpoint on every DATASETS.TEST set",
                    "ssd test --ckpt outputs/quickstart/model_best.pth"),
    "demo": Command("demo", "detect in images, a folder, a glob, a video, a webcam or a stream",
                    "ssd demo --ckpt outputs/quickstart/model_best.pth --images demo/ --output demo/output"),
    "export": Command("export", "export a checkpoint for deployment (ONNX)",
                      "ssd export --ckpt outputs/quickstart/model_best.pth --output model.onnx"),
    "eval": Command("eval_detections", "score an existing detections.json against the test sets, without a model",
                    "ssd eval --config-file CFG --detections OUTPUT_DIR/inference/<set>/detections.json"),
    "info": Command("model_info", "parameters, default boxes, feature maps and GFLOPs of a config",
                    "ssd info --config-file configs/ssdlite320_mnv3_coco.yaml --json"),
    "bench": Command("benchmark", "inference, training-step and data-pipeline speed of a config",
                     "ssd bench --config-file configs/ssdlite320_mnv3_coco.yaml --rounds 5"),
    "convert": Command("convert_weights", "torchvision, lufficc/SSD or TF object-detection API weights -> a checkpoint",
                       "ssd convert --source torchvision --input SSD300_VGG16_Weights.COCO_V1 "
                       "--config-file configs/converted/ssd300_vgg16_coco_torchvision.yaml --output ssd300.pth"),
    "data": Command("data", "dataset utilities: convert between YOLO, VOC and COCO layouts",
                    "ssd data convert --from yolo --to coco --images data/yolo/images --out data/coco"),
    "visualize": Command("visualize_data", "draw a dataset's boxes, as loaded or after augmentation",
                         "ssd visualize --config-file configs/quickstart_ssdlite320_mnv3.yaml --output vis/"),
    "quickstart": Command("quickstart", "synthetic data -> train on CPU -> AP -> demo, in one go",
                          "ssd quickstart"),
    "synthetic": Command("make_synthetic_dataset", "write the synthetic shapes dataset (VOC or COCO layout)",
                         "ssd synthetic --format coco --out datasets/synthetic_coco --train 300 --test 100"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: ssd <command> [options] [KEY VALUE ...]   (ssd {__version__})", "", "commands:"]
    lines += [f"  {name:<{width}}  {c.summary}" for name, c in COMMANDS.items()]
    lines += ["", "examples:"] + [f"  {c.example}" for c in COMMANDS.values()]
    lines += ["", "'ssd <command> --help' lists a command's options. Options may come before or after the "
              "KEY VALUE config overrides; --debug (or SSD_DEBUG=1) shows the traceback of an error."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] == "--version":
        print(f"ssd {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    command = COMMANDS.get(name)
    if command is None:
        close = difflib.get_close_matches(name, list(COMMANDS), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        print(f"ssd: unknown command {name!r}{hint}; 'ssd --help' lists the commands", file=sys.stderr)
        return 2
    module_name = f"ssd.tools.{command.module}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise  # a dependency of the tool is missing: its own message says which
        print(f"ssd {name}: not available in this version ({module_name} is missing)", file=sys.stderr)
        return 1
    program = sys.argv[0]
    sys.argv[0] = f"ssd {name}"  # argparse's prog: "usage: ssd demo ..." in the tool's help and errors
    try:
        return int(module.main(rest) or 0)
    finally:
        sys.argv[0] = program


if __name__ == "__main__":
    sys.exit(main())
