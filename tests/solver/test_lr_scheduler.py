import math

import pytest
import torch
from torch import nn

from ssd.config import get_cfg
from ssd.solver import (
    WarmupSchedule,
    build_lr_scheduler,
    build_optimizer,
    cosine_factor,
    multistep_factor,
    warmup_factor,
)


def test_warmup_factor_hand_values():
    assert warmup_factor(0, warmup_iters=10, start_factor=0.1) == pytest.approx(0.1)
    assert warmup_factor(5, warmup_iters=10, start_factor=0.1) == pytest.approx(0.55)
    assert warmup_factor(10, warmup_iters=10, start_factor=0.1) == 1.0
    assert warmup_factor(3, warmup_iters=0, start_factor=0.1) == 1.0


def test_multistep_factor_counts_reached_steps():
    steps = [20, 30]
    assert [multistep_factor(i, steps=steps, gamma=0.1) for i in (0, 19, 20, 29, 30, 99)] == pytest.approx(
        [1.0, 1.0, 0.1, 0.1, 0.01, 0.01]
    )


def test_cosine_factor_hand_values():
    assert cosine_factor(0, max_iter=100) == 1.0
    assert cosine_factor(25, max_iter=100) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert cosine_factor(50, max_iter=100) == pytest.approx(0.5)
    assert cosine_factor(100, max_iter=100) == pytest.approx(0.0)
    assert cosine_factor(50, max_iter=100, final_factor=0.1) == pytest.approx(0.55)
    assert cosine_factor(150, max_iter=100, final_factor=0.1) == pytest.approx(0.1)


def _lrs(cfg, n):
    model = nn.Linear(2, 2)
    opt = build_optimizer(cfg, model)
    sched = build_lr_scheduler(cfg, opt)
    seen = []
    for _ in range(n):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return seen


def test_warmup_multistep_through_the_optimizer():
    cfg = get_cfg()
    cfg.SOLVER.LR = 0.1
    cfg.SOLVER.MAX_ITER = 40
    cfg.SOLVER.LR_SCHEDULER = "multistep"
    cfg.SOLVER.LR_STEPS = [20, 30]
    cfg.SOLVER.WARMUP_ITERS = 10
    cfg.SOLVER.WARMUP_FACTOR = 0.1
    lrs = _lrs(cfg, 35)
    assert lrs[0] == pytest.approx(0.01)
    assert lrs[5] == pytest.approx(0.055)
    assert lrs[10] == pytest.approx(0.1)
    assert lrs[19] == pytest.approx(0.1)
    assert lrs[20] == pytest.approx(0.01)
    assert lrs[30] == pytest.approx(0.001)


def test_warmup_cosine_through_the_optimizer():
    cfg = get_cfg()
    cfg.SOLVER.LR = 0.2
    cfg.SOLVER.MAX_ITER = 100
    cfg.SOLVER.LR_SCHEDULER = "cosine"
    cfg.SOLVER.WARMUP_ITERS = 4
    cfg.SOLVER.WARMUP_FACTOR = 0.5
    lrs = _lrs(cfg, 51)
    # iteration 2: warmup 0.75 times cosine(2/100)
    assert lrs[2] == pytest.approx(0.2 * 0.75 * 0.5 * (1 + math.cos(math.pi * 0.02)))
    assert lrs[50] == pytest.approx(0.1)


def test_schedule_round_trips_through_scheduler_state():
    sched_fn = WarmupSchedule(name="multistep", max_iter=10, warmup_iters=2, warmup_start_factor=0.5, steps=[4])
    model = nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, sched_fn)
    for _ in range(5):
        opt.step()
        sched.step()
    state = sched.state_dict()
    assert state["last_epoch"] == 5
    assert state["lr_lambdas"][0]["steps"] == [4]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(name="poly", max_iter=10, warmup_iters=0, warmup_start_factor=1.0),
        dict(name="cosine", max_iter=0, warmup_iters=0, warmup_start_factor=1.0),
        dict(name="multistep", max_iter=10, warmup_iters=0, warmup_start_factor=1.0, steps=[5, 2]),
    ],
)
def test_bad_schedules_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        WarmupSchedule(**kwargs)
