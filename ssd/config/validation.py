"""Cross-key checks run on every loaded config; errors quote the offending values."""

from __future__ import annotations

import torch
from yacs.config import CfgNode as CN

from .choices import CHOICES


def _get(cfg: CN, dotted: str):
    node = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


def _check_same_length(named: dict[str, list], allow_empty: tuple[str, ...] = ()) -> None:
    lengths = {k: len(v) for k, v in named.items() if not (k in allow_empty and len(v) == 0)}
    if len(set(lengths.values())) > 1:
        listing = ", ".join(f"{k} has {n} ({list(named[k])})" for k, n in lengths.items())
        raise ValueError(f"these lists need one entry per level: {listing}")


def validate_config(cfg: CN) -> None:
    """Raise ``ValueError`` naming the keys and values of any inconsistency in ``cfg``.

    Checks that need the built model (levels produced by backbone + neck vs. prior levels) are
    done by the model builder; checks that need the dataset (class count) or a registry (e.g.
    ``INPUT.AUGMENTATION``) by the builder that owns it.
    """
    for key, allowed in CHOICES.items():
        value = _get(cfg, key)
        if value not in allowed:
            raise ValueError(f"{key} = {value!r}; expected one of {list(allowed)}")

    priors = cfg.MODEL.PRIORS
    _check_same_length(
        {
            "MODEL.PRIORS.ASPECT_RATIOS": priors.ASPECT_RATIOS,
            "MODEL.PRIORS.MIN_SIZES": priors.MIN_SIZES,
            "MODEL.PRIORS.MAX_SIZES": priors.MAX_SIZES,
            "MODEL.PRIORS.STRIDES": priors.STRIDES,
        },
        allow_empty=("MODEL.PRIORS.MIN_SIZES", "MODEL.PRIORS.MAX_SIZES", "MODEL.PRIORS.STRIDES"),
    )
    if bool(priors.MIN_SIZES) != bool(priors.MAX_SIZES):
        raise ValueError(
            "MODEL.PRIORS.MIN_SIZES and MAX_SIZES go together: got "
            f"MIN_SIZES={list(priors.MIN_SIZES)}, MAX_SIZES={list(priors.MAX_SIZES)}"
        )
    for level, ratios in enumerate(priors.ASPECT_RATIOS):
        if any(r <= 0 for r in ratios):
            raise ValueError(f"MODEL.PRIORS.ASPECT_RATIOS[{level}] = {list(ratios)}: ratios must be > 0")
    if not 0 < priors.MIN_RATIO <= priors.MAX_RATIO:
        raise ValueError(
            f"MODEL.PRIORS ratios must satisfy 0 < MIN_RATIO <= MAX_RATIO, "
            f"got MIN_RATIO={priors.MIN_RATIO}, MAX_RATIO={priors.MAX_RATIO}"
        )

    neck = cfg.MODEL.NECK
    if neck.NAME in ("ssd_extras", "ssdlite_extras"):
        _check_same_length(
            {
                "MODEL.NECK.OUT_CHANNELS": neck.OUT_CHANNELS,
                "MODEL.NECK.MID_CHANNELS": neck.MID_CHANNELS,
                "MODEL.NECK.STRIDES": neck.STRIDES,
                "MODEL.NECK.PADDINGS": neck.PADDINGS,
                "MODEL.NECK.KERNEL_SIZES": neck.KERNEL_SIZES,
            },
            allow_empty=("MODEL.NECK.MID_CHANNELS",),
        )

    if cfg.MODEL.NUM_CLASSES == 1 or cfg.MODEL.NUM_CLASSES < 0:
        raise ValueError(
            f"MODEL.NUM_CLASSES = {cfg.MODEL.NUM_CLASSES}: it counts background too, so it must be "
            ">= 2 (or 0 to derive it from the dataset)"
        )
    for key in ("PIXEL_MEAN", "PIXEL_STD"):
        if len(cfg.INPUT[key]) != 3:
            raise ValueError(f"INPUT.{key} = {list(cfg.INPUT[key])}: expected 3 values (R, G, B)")
    if any(s <= 0 for s in cfg.INPUT.PIXEL_STD):
        raise ValueError(f"INPUT.PIXEL_STD = {list(cfg.INPUT.PIXEL_STD)}: values must be > 0")
    if cfg.INPUT.PIXEL_RANGE not in (1.0, 255.0):
        raise ValueError(f"INPUT.PIXEL_RANGE = {cfg.INPUT.PIXEL_RANGE}; expected 1.0 or 255.0")
    if cfg.INPUT.IMAGE_SIZE < 32:
        raise ValueError(f"INPUT.IMAGE_SIZE = {cfg.INPUT.IMAGE_SIZE}; expected at least 32 pixels")

    if not 0.0 < cfg.MODEL.FOCAL_PRIOR < 1.0:
        raise ValueError(f"MODEL.FOCAL_PRIOR = {cfg.MODEL.FOCAL_PRIOR}; expected a probability in (0, 1)")
    if cfg.MODEL.FOCAL_CLS_WEIGHT <= 0:
        raise ValueError(f"MODEL.FOCAL_CLS_WEIGHT = {cfg.MODEL.FOCAL_CLS_WEIGHT}; expected > 0")
    if cfg.MODEL.BOX_HEAD.CLS_INIT_STD < 0:
        raise ValueError(f"MODEL.BOX_HEAD.CLS_INIT_STD = {cfg.MODEL.BOX_HEAD.CLS_INIT_STD}; expected >= 0 (0 = INIT)")

    for key in ("CONFIDENCE_THRESHOLD", "NMS_THRESHOLD", "DEMO_SCORE_THRESHOLD"):
        if not 0.0 <= cfg.TEST[key] <= 1.0:
            raise ValueError(f"TEST.{key} = {cfg.TEST[key]}; expected a value in [0, 1]")
    for key in ("TOPK_CANDIDATES", "MAX_PER_IMAGE", "BATCH_SIZE"):
        if cfg.TEST[key] < 1:
            raise ValueError(f"TEST.{key} = {cfg.TEST[key]}; expected >= 1")

    solver = cfg.SOLVER
    if solver.BATCH_SIZE < 1 or solver.MAX_ITER < 1:
        raise ValueError(
            f"SOLVER.BATCH_SIZE = {solver.BATCH_SIZE} and SOLVER.MAX_ITER = {solver.MAX_ITER} must be >= 1"
        )
    if list(solver.LR_STEPS) != sorted(solver.LR_STEPS):
        raise ValueError(f"SOLVER.LR_STEPS = {list(solver.LR_STEPS)} must be increasing")
    if not 0.0 <= solver.EMA_DECAY < 1.0 or solver.EMA_WARMUP < 0:
        raise ValueError(
            f"SOLVER.EMA_DECAY = {solver.EMA_DECAY} must lie in [0, 1) and SOLVER.EMA_WARMUP = "
            f"{solver.EMA_WARMUP} be >= 0"
        )


def resolve_device(name: str) -> torch.device:
    """``MODEL.DEVICE`` to a device: ``auto`` picks CUDA when available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"MODEL.DEVICE = {name!r} but CUDA is not available on this machine")
    return device
