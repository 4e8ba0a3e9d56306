"""A tiny untrained detector saved as a checkpoint (config + class names stored), for the tests
of the tools that load one: SSDLite320-MobileNetV3 at width 0.25 on 96 px inputs."""

from __future__ import annotations

import os

import torch

from ssd.config import load_config
from ssd.modeling import build_model

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "configs", "ssdlite320_mnv3_coco.yaml")
CLASS_NAMES = ["circle", "square", "triangle", "star"]
TINY_OPTS = ["MODEL.BACKBONE.WIDTH_MULT", "0.25", "INPUT.IMAGE_SIZE", "96", "MODEL.NUM_CLASSES", "5",
             "MODEL.DEVICE", "cpu", "MODEL.BACKBONE.WEIGHTS", "", "TEST.CONFIDENCE_THRESHOLD", "0.0"]


def write_tiny_checkpoint(
    path: str, *, seed: int = 0, class_names: list[str] = CLASS_NAMES, config: str = CONFIG, opts: list[str] = ()
) -> str:
    """Save ``{"model", "config", "class_names"}`` (what training writes, less the optimizer) to
    ``path``; the stored config is ``config`` with the tiny settings and ``opts``."""
    tiny = [*TINY_OPTS]
    tiny[tiny.index("MODEL.NUM_CLASSES") + 1] = str(len(class_names) + 1)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    cfg = load_config(config, [*tiny, *opts])
    torch.manual_seed(seed)
    model = build_model(cfg, num_classes=len(class_names) + 1)
    torch.save({"model": model.state_dict(), "config": cfg.dump(), "class_names": list(class_names),
                "iteration": 0}, path)
    return path
