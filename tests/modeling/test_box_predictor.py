"""One BoxPredictor for every head shape; the loss's declared contract reaches it and postprocess."""

import math
import os

import pytest
import torch
from torch import nn

from ssd.config import load_config
from ssd.modeling import build_model
from ssd.modeling.head.box_predictor import BoxPredictor, conv3x3_heads, separable_heads
from ssd.modeling.head.lufficc import lufficc_separable_heads
from ssd.modeling.loss import DetectionLoss, MultiBoxLoss
from ssd.modeling.registry import LOSSES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADS = {
    "ssd": conv3x3_heads,
    "ssdlite": separable_heads(),
    "lufficc": lufficc_separable_heads(num_levels=2),
}


def _predictor(heads, **kw):
    torch.manual_seed(0)
    return BoxPredictor(in_channels=[16, 24], boxes_per_location=[4, 6], num_classes=3,
                        make_head=HEADS[heads], **kw)


def _convs(module):
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


@pytest.mark.parametrize("heads", list(HEADS))
def test_layout_box_major_per_cell(heads):
    p = _predictor(heads).eval()
    features = [torch.randn(2, 16, 3, 3), torch.randn(2, 24, 2, 2)]
    with torch.no_grad():
        cls, reg = p(features)
        raw_cls, raw_reg = p.cls_heads[1](features[1]), p.reg_heads[1](features[1])
    assert cls.shape == (2, 3 * 3 * 4 + 2 * 2 * 6, 3) and reg.shape == (2, 60, 4)
    # level 1, cell (row 1, column 0) = cell 2, box 5: prior 36 + 2 * 6 + 5 = 53, channels 5 * K + k
    torch.testing.assert_close(cls[:, 53], raw_cls[:, 15:18, 1, 0])
    torch.testing.assert_close(reg[:, 53], raw_reg[:, 20:24, 1, 0])


@pytest.mark.parametrize("heads", list(HEADS))
def test_prior_bias_goes_on_the_last_class_conv_only(heads):
    p = _predictor(heads, cls_bias_prior=0.01)
    for h in p.cls_heads:
        *inner, last = _convs(h)
        torch.testing.assert_close(last.bias, torch.full_like(last.bias, -math.log(99)))
        assert all(c.bias is None or not c.bias.any() for c in inner)
    assert all(not c.bias.any() for h in p.reg_heads for c in _convs(h) if c.bias is not None)


@pytest.mark.parametrize("heads", list(HEADS))
def test_houqb_class_head_init_redraws_every_class_conv(heads):
    # houqb's initialize_prior: every conv of the class head N(0, 0.01) with the prior bias. The
    # draws come after the INIT pass, so the box heads are bit-identical to the default init and
    # the class convs equal N(0, 0.01) drawn in module order from the same generator state.
    plain = _predictor(heads, cls_bias_prior=0.01)
    expected = [torch.empty_like(c.weight).normal_(0.0, 0.01) for h in plain.cls_heads for c in _convs(h)]
    houqb = _predictor(heads, cls_bias_prior=0.01, cls_init_std=0.01)
    got = [c for h in houqb.cls_heads for c in _convs(h)]
    for conv, weight in zip(got, expected, strict=True):
        torch.testing.assert_close(conv.weight, weight, rtol=0, atol=0)
        if conv.bias is not None:  # lufficc's depthwise conv has one, ours does not
            torch.testing.assert_close(conv.bias, torch.full_like(conv.bias, -math.log(99)))
    for a, b in zip(plain.reg_heads.parameters(), houqb.reg_heads.parameters(), strict=True):
        assert torch.equal(a, b)


def test_houqb_init_without_a_prior_leaves_biases_at_zero():
    p = _predictor("lufficc", cls_init_std=0.01)
    assert all(not c.bias.any() for h in p.cls_heads for c in _convs(h))


def test_bad_prior_and_std_are_errors():
    with pytest.raises(ValueError, match="cls_bias_prior = 0"):
        _predictor("ssd", cls_bias_prior=0)
    with pytest.raises(ValueError, match="cls_init_std = -1"):
        _predictor("ssd", cls_init_std=-1)


def test_lufficc_heads_keep_lufficcs_layout():
    p = _predictor("lufficc")
    assert isinstance(p.cls_heads[1], nn.Conv2d) and p.cls_heads[1].kernel_size == (1, 1)
    depthwise, bn, _, pointwise = p.cls_heads[0]
    assert depthwise.groups == 16 and depthwise.bias is not None and isinstance(bn, nn.BatchNorm2d)
    assert pointwise.out_channels == 4 * 3


class _ThirdLoss(MultiBoxLoss):
    """A loss nobody has heard of, declaring sigmoid scores and a prior of 0.2."""

    score_activation = "sigmoid"
    cls_bias_prior = 0.2


def _mnv3(loss_name):
    return load_config(os.path.join(ROOT, "configs", "ssdlite320_mnv3_coco.yaml"),
                       ["MODEL.BACKBONE.WEIGHTS", "", "MODEL.BOX_HEAD.LOSS", loss_name])


def test_a_third_loss_gets_the_activation_and_prior_it_declares(monkeypatch):
    monkeypatch.setitem(LOSSES._items, "third", lambda cfg: _ThirdLoss())
    head = build_model(_mnv3("third")).box_head
    assert head.postprocess.activation == "sigmoid"
    for h in head.predictor.cls_heads:
        torch.testing.assert_close(h[-1].bias, torch.full_like(h[-1].bias, -math.log(4)))


def test_a_loss_without_the_contract_is_an_error(monkeypatch):
    monkeypatch.setitem(LOSSES._items, "bare", lambda cfg: (lambda *args: {}))
    with pytest.raises(ValueError, match="LOSS = 'bare'.*not a ssd.modeling.loss.DetectionLoss"):
        build_model(_mnv3("bare"))


def test_a_loss_declaring_an_unknown_activation_is_an_error(monkeypatch):
    class Tanh(MultiBoxLoss):
        score_activation = "tanh"

    monkeypatch.setitem(LOSSES._items, "tanh", lambda cfg: Tanh())
    with pytest.raises(ValueError, match="score_activation = 'tanh'; postprocess knows"):
        build_model(_mnv3("tanh"))


def test_every_registered_loss_is_a_detection_loss():
    from ssd.config import get_cfg

    for name in LOSSES:
        loss = LOSSES.get(name)(get_cfg())
        assert isinstance(loss, DetectionLoss) and loss.score_activation in ("softmax", "sigmoid")
