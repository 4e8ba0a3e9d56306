import pytest

from ssd.config import get_cfg
from ssd.engine import per_process_batch, scale_for_world


def _cfg(**solver):
    cfg = get_cfg()
    cfg.SOLVER.MAX_ITER, cfg.SOLVER.LR_STEPS, cfg.SOLVER.WARMUP_ITERS = 1000, [600, 900], 100
    cfg.SOLVER.CHECKPOINT_PERIOD, cfg.SOLVER.EVAL_PERIOD, cfg.SOLVER.BATCH_SIZE, cfg.SOLVER.LR = 250, 0, 32, 0.01
    for k, v in solver.items():
        cfg.SOLVER[k] = v
    return cfg


def test_nothing_scales_without_the_keys():
    cfg, notes = scale_for_world(_cfg(), 4)
    assert (cfg.SOLVER.LR, cfg.SOLVER.MAX_ITER, list(cfg.SOLVER.LR_STEPS)) == (0.01, 1000, [600, 900])
    assert notes == ["SOLVER.BATCH_SIZE = 32 in total: 8 images per process x 4 process(es)"]
    assert cfg.is_frozen()


def test_explicit_keys_scale_and_say_so():
    cfg, notes = scale_for_world(_cfg(SCALE_LR_WITH_WORLD=True, SCALE_ITERS_WITH_WORLD=True), 4)
    s = cfg.SOLVER
    assert s.LR == pytest.approx(0.04)
    assert (s.MAX_ITER, list(s.LR_STEPS), s.WARMUP_ITERS, s.CHECKPOINT_PERIOD, s.EVAL_PERIOD) == (
        250, [150, 225], 25, 63, 0)
    assert "SOLVER.SCALE_LR_WITH_WORLD: SOLVER.LR 0.01 -> 0.04 (x4)" in notes
    assert "SOLVER.SCALE_ITERS_WITH_WORLD: SOLVER.LR_STEPS [600, 900] -> [150, 225]" in notes


def test_batch_must_split_evenly():
    assert per_process_batch(32, 4) == 8
    with pytest.raises(ValueError, match="BATCH_SIZE = 30 .* world size 4"):
        per_process_batch(30, 4)
