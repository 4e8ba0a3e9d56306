import math

import pytest
import torch
from torch import nn

from ssd.solver import ModelEma, ema_decay


def test_decay_ramps_up_as_in_yolox():
    assert ema_decay(1, decay=0.9998, warmup=2000) == pytest.approx(0.9998 * (1 - math.exp(-1 / 2000)))
    assert ema_decay(2000, decay=0.9, warmup=2000) == pytest.approx(0.9 * (1 - math.exp(-1)))
    assert ema_decay(5, decay=0.9, warmup=0) == 0.9


def test_update_averages_floats_including_batchnorm_stats_and_copies_counters():
    model = nn.Sequential(nn.Linear(1, 1, bias=False), nn.BatchNorm1d(1))
    with torch.no_grad():
        model[0].weight.fill_(1.0)
    ema = ModelEma(model, decay=0.5, warmup=0)
    assert not ema.module.training and not any(p.requires_grad for p in ema.module.parameters())
    with torch.no_grad():
        model[0].weight.fill_(3.0)
        model[1].running_mean.fill_(4.0)
        model[1].num_batches_tracked.fill_(7)
    ema.update(model)  # 0.5 * old + 0.5 * new
    assert ema.module[0].weight.item() == 2.0
    assert ema.module[1].running_mean.item() == 2.0
    assert ema.module[1].num_batches_tracked.item() == 7
    ema.update(model)
    assert ema.module[0].weight.item() == 2.5 and ema.updates == 2
    assert model[0].weight.item() == 3.0  # the trained model is untouched


def test_decay_outside_0_1_is_refused():
    with pytest.raises(ValueError, match=r"EMA decay = 1.0; expected a value in \(0, 1\)"):
        ModelEma(nn.Linear(1, 1), decay=1.0, warmup=0)
