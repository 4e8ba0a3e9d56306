"""The PyTorch CPU fast path: conv-BN folding is exact, channels_last and bf16 keep the contract."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from ssd.config import load_config
from ssd.export.backends import inference_backend
from ssd.export.cpu import fold_batchnorm, prepare_for_cpu
from ssd.modeling import build_model

from .helpers import assert_same_detections, randomise, test_images

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def ssdlite():
    cfg = load_config(os.path.join(ROOT, "configs/ssdlite320_mnv3_coco.yaml"),
                      ["MODEL.BACKBONE.WEIGHTS", "", "MODEL.NUM_CLASSES", "5"])
    torch.manual_seed(0)
    images = test_images(320, count=2)
    return randomise(build_model(cfg), images), images


def test_folding_removes_every_batchnorm_and_keeps_the_outputs(ssdlite):
    model, images = ssdlite
    norms = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    fast = prepare_for_cpu(model, fold_bn=True)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in fast.modules()) == 0
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == norms > 50  # the original is intact
    with torch.no_grad():
        expected = model.box_head.predictor(model.features(images))
        actual = fast.detector.box_head.predictor(fast.detector.features(images))
    # fp32 rounding only (folded weights round differently; the 1x1 levels, normalised by statistics of
    # two images, amplify it most): within 1e-4 of the output range
    for e, a in zip(expected, actual, strict=True):
        torch.testing.assert_close(a, e, rtol=1e-4, atol=1e-4 * float(e.abs().max()))


def test_training_mode_batchnorm_is_not_folded():
    seq = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    assert fold_batchnorm(seq) == 0 and isinstance(seq[1], nn.BatchNorm2d)
    seq.eval()
    assert fold_batchnorm(seq) == 1 and isinstance(seq[1], nn.Identity)


def test_channels_last_and_bf16_keep_the_contract(ssdlite):
    model, images = ssdlite
    with torch.no_grad():
        expected = model(images)
    channels_last = inference_backend("torch", detector=model, fold_bn=True, channels_last=True)
    for e, a in zip(expected, channels_last(images), strict=True):
        assert_same_detections(e, a, score_tol=1e-4)  # other conv kernels: fp32 rounding, as with folding
    bf16 = inference_backend("torch", detector=model, channels_last=True, bf16=True)
    out = bf16(images)
    assert [len(o["scores"]) for o in out] == [len(e["scores"]) for e in expected]
    assert all(o["scores"].dtype == torch.float32 and o["boxes"].dtype == torch.float32 for o in out)
    # bf16 keeps ~3 significant digits: the best detection stays, its score within 0.02
    for e, o in zip(expected, out, strict=True):
        assert abs(float(o["scores"][0]) - float(e["scores"][0])) < 0.02
    with pytest.raises(ValueError, match="cannot be trained"):
        bf16.train()
    with pytest.raises(ValueError, match="expected one of"):
        inference_backend("tensorrt", detector=model)
