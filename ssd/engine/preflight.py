"""Checks run before a training run starts, on the config alone (nothing is built yet)."""

from __future__ import annotations

from yacs.config import CfgNode

#: A run over this many iterations is a long run: a recipe's, not a smoke test or a short experiment.
LONG_RUN_ITERS = 1000


def check_backbone_start(cfg: CfgNode, *, source: str) -> None:
    """Raise ``ValueError`` (one line naming ``source`` and the key) when a config whose recipe
    starts from ImageNet weights (``MODEL.BACKBONE.WEIGHTS_REQUIRED``) would train a long run
    (over :data:`LONG_RUN_ITERS` iterations) from random backbone weights without
    ``MODEL.BACKBONE.FROM_SCRATCH`` saying that is intended."""
    b = cfg.MODEL.BACKBONE
    if b.WEIGHTS_REQUIRED and not b.WEIGHTS and not b.FROM_SCRATCH and cfg.SOLVER.MAX_ITER > LONG_RUN_ITERS:
        raise ValueError(
            f"{source}: MODEL.BACKBONE.WEIGHTS is empty but this recipe starts {b.NAME} from ImageNet weights "
            f"({cfg.SOLVER.MAX_ITER} iterations from random ones); set MODEL.BACKBONE.FROM_SCRATCH True "
            "if training from scratch is intended"
        )
