"""The focal loss of the ``focal`` entry in LOSSES (Lin et al. 2017, §3.2)."""

import math
import os

import pytest
import torch
from torchvision.ops import sigmoid_focal_loss

from ssd.config import get_cfg, load_config
from ssd.modeling import build_model
from ssd.modeling.loss import FocalLoss
from ssd.modeling.registry import LOSSES


def _inputs(batch=2, priors=7, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, priors, classes, generator=g)
    deltas = torch.randn(batch, priors, 4, generator=g)
    targets = torch.randn(batch, priors, 4, generator=g)
    labels = torch.tensor([[0, 1, 0, 3, 0, 0, 2], [0, 0, 0, 0, 1, 0, 0]])
    return logits, deltas, labels, targets


def test_hand_derived_value_at_zero_logits():
    # One prior of class 1 among 3 classes, logits 0 so every sigmoid is 0.5:
    # the class-1 column costs alpha (1 - p)^2 (-log p) = 0.25 * 0.25 * ln 2, the class-2 column
    # (1 - alpha) p^2 (-log(1 - p)) = 0.75 * 0.25 * ln 2; column 0 (background) costs nothing.
    loss = FocalLoss()(torch.zeros(1, 1, 3), torch.zeros(1, 1, 4), torch.tensor([[1]]), torch.zeros(1, 1, 4))
    assert loss["loss_cls"].item() == pytest.approx((0.25 + 0.75) * 0.25 * math.log(2), rel=1e-6)
    assert loss["loss_box"].item() == 0.0


def test_class_weight_multiplies_the_classification_term_only():
    # houqb's recipe: 5 x the hand-derived value above; the box term (here 0.5 * 0.4^2 + 0.6 - 0.5
    # = 0.18 over 1 positive) is not weighted.
    deltas = torch.tensor([[[0.4, 0.0, 0.0, 1.1]]])
    loss = FocalLoss(cls_weight=5.0)(torch.zeros(1, 1, 3), deltas, torch.tensor([[1]]), torch.zeros(1, 1, 4))
    assert loss["loss_cls"].item() == pytest.approx(5 * (0.25 + 0.75) * 0.25 * math.log(2), rel=1e-6)
    assert loss["loss_box"].item() == pytest.approx(0.5 * 0.4**2 + (1.1 - 0.5), rel=1e-6)


def test_class_weight_and_prior_must_be_sensible():
    with pytest.raises(ValueError, match="cls_weight = 0.0"):
        FocalLoss(cls_weight=0.0)
    with pytest.raises(ValueError, match="cls_bias_prior = 1.0"):
        FocalLoss(cls_bias_prior=1.0)


def test_declares_sigmoid_scores_and_its_bias_prior():
    assert FocalLoss().score_activation == "sigmoid"
    assert FocalLoss(cls_bias_prior=0.05).cls_bias_prior == 0.05


def test_equals_torchvision_on_foreground_columns_divided_by_positives():
    logits, deltas, labels, targets = _inputs()
    loss = FocalLoss(alpha=0.25, gamma=2.0)(logits, deltas, labels, targets)
    one_hot = torch.nn.functional.one_hot(labels, 4)[..., 1:].float()
    expected = sigmoid_focal_loss(logits[..., 1:], one_hot, alpha=0.25, gamma=2.0, reduction="sum") / 4
    torch.testing.assert_close(loss["loss_cls"], expected)
    pos = labels > 0
    expected_box = torch.nn.functional.smooth_l1_loss(deltas[pos], targets[pos], reduction="sum") / 4
    torch.testing.assert_close(loss["loss_box"], expected_box)


def test_background_column_is_ignored():
    logits, deltas, labels, targets = _inputs()
    shifted = logits.clone()
    shifted[..., 0] += 100.0
    a = FocalLoss()(logits, deltas, labels, targets)
    b = FocalLoss()(shifted, deltas, labels, targets)
    torch.testing.assert_close(a["loss_cls"], b["loss_cls"])


def test_no_positives_gives_zero_box_loss_and_unnormalised_cls_loss():
    logits, deltas, _, targets = _inputs()
    labels = torch.zeros(2, 7, dtype=torch.int64)
    loss = FocalLoss()(logits, deltas, labels, targets)
    assert loss["loss_box"].item() == 0.0
    expected = sigmoid_focal_loss(logits[..., 1:], torch.zeros(2, 7, 3), reduction="sum")
    torch.testing.assert_close(loss["loss_cls"], expected)


def test_gamma_zero_alpha_half_is_half_binary_cross_entropy():
    logits, deltas, labels, targets = _inputs()
    loss = FocalLoss(alpha=0.5, gamma=0.0)(logits, deltas, labels, targets)
    one_hot = torch.nn.functional.one_hot(labels, 4)[..., 1:].float()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits[..., 1:], one_hot, reduction="sum")
    torch.testing.assert_close(loss["loss_cls"], 0.5 * bce / 4)


def test_builder_reads_alpha_gamma_weight_and_prior():
    cfg = get_cfg()
    assert LOSSES.get("focal")(cfg) == FocalLoss()  # the defaults keep RetinaNet's values and weight 1
    cfg.MODEL.FOCAL_ALPHA, cfg.MODEL.FOCAL_GAMMA = 0.5, 1.0
    cfg.MODEL.FOCAL_CLS_WEIGHT, cfg.MODEL.FOCAL_PRIOR = 5.0, 0.02
    assert LOSSES.get("focal")(cfg) == FocalLoss(alpha=0.5, gamma=1.0, cls_weight=5.0, cls_bias_prior=0.02)


def test_focal_config_wires_loss_bias_prior_and_sigmoid_scores():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cfg = load_config(os.path.join(root, "configs", "ssdlite320_mnv3small_coco.yaml"),
                      ["MODEL.BACKBONE.WEIGHTS", "", "MODEL.BOX_HEAD.LOSS", "focal"])
    head = build_model(cfg).box_head
    assert head.loss == FocalLoss(alpha=0.25, gamma=2.0)
    assert head.postprocess.activation == "sigmoid"
    for cls_head in head.predictor.cls_heads:
        torch.testing.assert_close(cls_head[-1].bias, torch.full_like(cls_head[-1].bias, -math.log(99)))


HOUQB_CONFIGS = ["ssdlite320_mnext_coco.yaml", "ssdlite320_mnext_fpn_coco.yaml", "ssdlite320_mnv2_fpn_coco.yaml"]


@pytest.mark.parametrize("name", HOUQB_CONFIGS)
def test_configs_citing_houqb_use_its_weight_and_class_head_init(name):
    # houqb/ssdlite-pytorch-mobilenext: 5 * focal loss; every class-head conv N(0, 0.01), bias -log(99)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cfg = load_config(os.path.join(root, "configs", name), ["MODEL.BACKBONE.WEIGHTS", ""])
    torch.manual_seed(0)
    head = build_model(cfg).box_head
    assert head.loss == FocalLoss(alpha=0.25, gamma=2.0, cls_weight=5.0, cls_bias_prior=0.01)
    weights = []
    for cls_head in head.predictor.cls_heads:
        for conv in (m for m in cls_head.modules() if isinstance(m, torch.nn.Conv2d)):
            weights.append(conv.weight.flatten())
            if conv.bias is not None:
                torch.testing.assert_close(conv.bias, torch.full_like(conv.bias, -math.log(99)))
    weights = torch.cat(weights)
    assert weights.numel() > 50_000 and abs(weights.std().item() - 0.01) < 2e-4 and abs(weights.mean()) < 2e-4
