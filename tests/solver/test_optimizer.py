import pytest
import torch
from torch import nn

from ssd.solver import make_sgd, split_decay_params


def _net():
    return nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1))


def test_split_decay_params_puts_norm_and_bias_aside():
    net = _net()
    decay, no_decay = split_decay_params(net)
    assert {id(p) for p in decay} == {id(net[0].weight), id(net[2].weight)}
    assert {id(p) for p in no_decay} == {id(net[1].weight), id(net[1].bias), id(net[2].bias)}


def test_make_sgd_groups_and_hyperparameters():
    net = _net()
    opt = make_sgd(net, lr=0.1, momentum=0.9, weight_decay=5e-4, no_decay_norm_bias=True)
    assert [g["weight_decay"] for g in opt.param_groups] == [5e-4, 0.0]
    assert [len(g["params"]) for g in opt.param_groups] == [2, 3]
    assert opt.param_groups[0]["momentum"] == 0.9
    plain = make_sgd(net, lr=0.1, momentum=0.9, weight_decay=5e-4)
    assert len(plain.param_groups) == 1 and len(plain.param_groups[0]["params"]) == 5


def test_no_decay_group_really_skips_decay():
    p = nn.Parameter(torch.ones(1))
    net = nn.Module()
    net.bias = p
    opt = make_sgd(net, lr=1.0, momentum=0.0, weight_decay=0.5, no_decay_norm_bias=True)
    p.grad = torch.zeros(1)
    opt.step()
    assert p.item() == 1.0  # a decayed parameter would have moved to 0.5


def test_make_sgd_rejects_bad_values():
    with pytest.raises(ValueError, match="-0.1"):
        make_sgd(_net(), lr=-0.1, momentum=0.9, weight_decay=0.0)


def test_build_optimizer_adamw_from_the_config():
    from ssd.config import load_config
    from ssd.solver import build_optimizer

    cfg = load_config(None, ["SOLVER.OPTIMIZER", "adamw", "SOLVER.LR", "0.002", "SOLVER.WEIGHT_DECAY", "0.05",
                             "SOLVER.NO_DECAY_NORM_BIAS", "True"])
    opt = build_optimizer(cfg, _net())
    assert isinstance(opt, torch.optim.AdamW)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.05, 0.0]
    assert opt.param_groups[0]["lr"] == 0.002
    assert isinstance(build_optimizer(load_config(None), _net()), torch.optim.SGD)


def test_caffe_bias_lr_and_decay():
    # Caffe model_libs.py: every conv bias {lr_mult: 2, decay_mult: 0}; weights lr 1x, decayed
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 1))
    opt = make_sgd(net, lr=0.1, momentum=0.0, weight_decay=0.5, bias_lr_factor=2.0, no_decay_bias=True)
    assert [(g["lr"], g["weight_decay"]) for g in opt.param_groups] == [(0.1, 0.5), (0.2, 0.0)]
    assert [{id(p) for p in g["params"]} for g in opt.param_groups] == [
        {id(net[0].weight), id(net[2].weight)}, {id(net[0].bias), id(net[2].bias)}]
    for p in net.parameters():
        p.data.fill_(1.0)
        p.grad = torch.ones_like(p)
    opt.step()
    # weight: 1 - 0.1 * (1 + 0.5 * 1) = 0.85; bias: 1 - 0.2 * 1 = 0.8
    assert torch.allclose(net[0].weight, torch.full_like(net[0].weight, 0.85))
    assert torch.allclose(net[2].bias, torch.full_like(net[2].bias, 0.8))


def test_caffe_bias_options_exclude_no_decay_norm_bias():
    with pytest.raises(ValueError, match="alternatives"):
        make_sgd(_net(), lr=0.1, momentum=0.9, weight_decay=5e-4, no_decay_norm_bias=True, bias_lr_factor=2.0)
