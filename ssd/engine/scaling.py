"""World-size scaling of the solver, only through explicit keys, every change logged.

``SOLVER.BATCH_SIZE`` is always the total over all processes; each process loads
``BATCH_SIZE / world_size`` images. ``SOLVER.SCALE_LR_WITH_WORLD`` multiplies ``SOLVER.LR`` by the
world size (the linear scaling rule, Goyal et al. 2017 §2.1, for when BATCH_SIZE was raised with
the GPU count); ``SOLVER.SCALE_ITERS_WITH_WORLD`` divides MAX_ITER, LR_STEPS, WARMUP_ITERS and the
checkpoint / evaluation periods by it (lufficc/SSD's habit, done silently there).
"""

from __future__ import annotations

import math

from yacs.config import CfgNode

from ..utils.distributed import per_process_batch

__all__ = ["per_process_batch", "scale_for_world"]


def scale_for_world(cfg: CfgNode, world_size: int) -> tuple[CfgNode, list[str]]:
    """A frozen copy of ``cfg`` with the requested scaling applied, and one message per change."""
    cfg = cfg.clone()
    cfg.defrost()
    s = cfg.SOLVER
    notes = [
        f"SOLVER.BATCH_SIZE = {s.BATCH_SIZE} in total: {per_process_batch(s.BATCH_SIZE, world_size)} "
        f"images per process x {world_size} process(es)"
    ]
    if world_size > 1 and s.SCALE_LR_WITH_WORLD:
        notes.append(f"SOLVER.SCALE_LR_WITH_WORLD: SOLVER.LR {s.LR} -> {s.LR * world_size} (x{world_size})")
        s.LR = s.LR * world_size
    if world_size > 1 and s.SCALE_ITERS_WITH_WORLD:
        def div(v: int) -> int:
            return max(1, math.ceil(v / world_size)) if v > 0 else v

        for key in ("MAX_ITER", "WARMUP_ITERS", "CHECKPOINT_PERIOD", "EVAL_PERIOD"):
            new = div(s[key])
            notes.append(f"SOLVER.SCALE_ITERS_WITH_WORLD: SOLVER.{key} {s[key]} -> {new}")
            s[key] = new
        steps = [div(v) for v in s.LR_STEPS]
        notes.append(f"SOLVER.SCALE_ITERS_WITH_WORLD: SOLVER.LR_STEPS {list(s.LR_STEPS)} -> {steps}")
        s.LR_STEPS = steps
    if world_size == 1 and (s.SCALE_LR_WITH_WORLD or s.SCALE_ITERS_WITH_WORLD):
        notes.append("world size 1: SOLVER.SCALE_*_WITH_WORLD change nothing")
    cfg.freeze()
    return cfg, notes
