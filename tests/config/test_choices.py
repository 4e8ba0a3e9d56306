"""Allowed config values are declared once (``ssd.config.choices``): validation accepts exactly
them, and the module that implements each choice accepts every one of them (issue 17 item 5)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ssd.config import choices, get_cfg, validate_config
from ssd.engine.precision import AMP_DTYPES, resolve_channels_last
from ssd.evaluation.build import evaluator_kind
from ssd.evaluation.coco import COCOEvaluator
from ssd.evaluation.voc import VOCEvaluator
from ssd.modeling.anchors import default_boxes
from ssd.modeling.backbone.mobilenet_v2 import VARIANT_TAP_MODES
from ssd.modeling.init import init_conv_weights
from ssd.modeling.matcher import MATCHERS, match_from_iou
from ssd.solver.build import build_optimizer
from ssd.solver.lr_scheduler import WarmupSchedule


def _with(key: str, value: str):
    cfg = get_cfg()
    node = cfg
    *parents, leaf = key.split(".")
    for part in parents:
        node = node[part]
    node[leaf] = value
    return cfg


@pytest.mark.parametrize("key", sorted(choices.CHOICES))
def test_validation_accepts_each_declared_value_and_rejects_others(key):
    for value in choices.CHOICES[key]:
        validate_config(_with(key, value))
    with pytest.raises(ValueError) as error:
        validate_config(_with(key, "nope"))
    assert str(error.value) == f"{key} = 'nope'; expected one of {list(choices.CHOICES[key])}"


def test_every_default_is_a_declared_value():
    cfg = get_cfg()
    for key, allowed in choices.CHOICES.items():
        node = cfg
        for part in key.split("."):
            node = node[part]
        assert node in allowed, (key, node)


def test_the_owners_implement_exactly_the_declared_matchers_amp_modes_and_variants():
    assert tuple(MATCHERS) == choices.MATCHERS
    assert tuple(AMP_DTYPES) == choices.AMP_MODES
    assert tuple(VARIANT_TAP_MODES) == choices.BACKBONE_VARIANTS


def test_matchers_and_clip_modes_run_in_their_owners():
    iou = torch.tensor([[0.9, 0.2], [0.1, 0.6]])
    assert {m: match_from_iou(iou, 0.5, m).tolist() for m in choices.MATCHERS} == {
        "bipartite": [0, 1], "argmax": [0, 1]}
    for clip in choices.CLIP_MODES:
        boxes = default_boxes(feature_sizes=[(1, 1)], image_size=(10, 10), min_sizes=[4.0], max_sizes=[9.0],
                              aspect_ratios=[[]], clip=clip)
        assert boxes.shape == (2, 4)
    with pytest.raises(ValueError, match="clip = 'nope'"):
        default_boxes(feature_sizes=[(1, 1)], image_size=(10, 10), min_sizes=[4.0], max_sizes=[9.0],
                      aspect_ratios=[[]], clip="nope")


def test_init_schedules_optimizers_and_channels_last_accept_every_declared_value():
    for mode in choices.INIT_MODES:
        init_conv_weights(nn.Conv2d(1, 1, 1), mode)
    for name in choices.LR_SCHEDULES:
        assert WarmupSchedule(name=name, max_iter=10, warmup_iters=0, warmup_start_factor=1.0)(0) == 1.0
    built = {}
    for name in choices.OPTIMIZERS:
        cfg = _with("SOLVER.OPTIMIZER", name)
        built[name] = type(build_optimizer(cfg, nn.Linear(2, 2)))
    assert built == {"sgd": torch.optim.SGD, "adamw": torch.optim.AdamW}
    cpu = torch.device("cpu")
    assert {m: resolve_channels_last(m, device=cpu, amp_dtype=None) for m in choices.CHANNELS_LAST_MODES} == {
        "auto": True, "on": True, "off": False}


def test_evaluators_accept_every_declared_kind_metric_and_backend():
    class Dataset:  # declares no format: "auto" evaluates it VOC-style
        def __len__(self):
            return 0

    assert {k: evaluator_kind(_with("TEST.EVALUATOR", k), Dataset()) for k in choices.EVALUATORS} == {
        "auto": "voc", "voc": "voc", "coco": "coco"}
    for metric in choices.VOC_METRICS:
        assert VOCEvaluator(dataset=Dataset(), class_names=["a"], metric=metric).metric == metric
    for backend in choices.COCO_BACKENDS:
        assert COCOEvaluator(dataset=Dataset(), class_names=["a"], backend=backend).backend == backend
