"""Configs train on what their cited recipe trained on (difficult objects, resize interpolations)."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

import ssd.data.transforms.pipelines as pipelines
from ssd.config import load_config
from ssd.data import build_transform

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# weiliu89/caffe examples/ssd: ssd_pascal*.py train_on_diff_gt = True, ssd_coco.py False; both draw
# resize_param.interp_mode among 5 modes. lufficc/SSD: keep_difficult = not is_train, cv2.resize bilinear.
CAFFE = {"ssd300_vgg16_voc0712": True, "ssd512_vgg16_voc0712": True, "ssd300_vgg16_coco": False,
         "ssd512_vgg16_coco": False}
LUFFICC = ("ssd300_effb3_voc0712", "ssdlite320_mnv2_voc0712", "ssdlite320_mnv2lufficc_voc0712",
           "ssdlite320_mnv3small_voc0712", "ssdlite320_mnext_voc0712", "ssd300_effb3_coco")


@pytest.mark.parametrize(("name", "difficult"), sorted(CAFFE.items()))
def test_caffe_configs_follow_caffe(name, difficult):
    cfg = load_config(os.path.join(ROOT, "configs", f"{name}.yaml"))
    assert cfg.DATASETS.KEEP_DIFFICULT is difficult
    assert cfg.INPUT.RANDOM_INTERPOLATION is True
    assert build_transform(cfg, is_train=True).random_interpolation is True


@pytest.mark.parametrize("name", LUFFICC)
def test_lufficc_configs_follow_lufficc(name):
    cfg = load_config(os.path.join(ROOT, "configs", f"{name}.yaml"))
    assert cfg.DATASETS.KEEP_DIFFICULT is False and cfg.INPUT.RANDOM_INTERPOLATION is False


def test_random_interpolation_draws_caffes_five_modes(monkeypatch):
    drawn = []

    def spy(image, *, interpolation, **kw):
        drawn.append(interpolation)
        return np.zeros((kw["size"], kw["size"], 3), np.uint8), None

    monkeypatch.setattr(pipelines, "resample_crop", spy)
    transform = pipelines.CaffeTrainTransform(size=8, pixel_mean=(0, 0, 0), random_interpolation=True)
    image, boxes = np.zeros((20, 20, 3), np.uint8), np.array([[2, 2, 10, 10]], np.float32)
    for seed in range(200):
        transform(image, boxes, np.array([1]), rng=np.random.default_rng(seed))
    assert set(drawn) == {cv2.INTER_LINEAR, cv2.INTER_AREA, cv2.INTER_NEAREST, cv2.INTER_CUBIC, cv2.INTER_LANCZOS4}
    assert 20 <= min(drawn.count(m) for m in set(drawn))  # uniform: ~40 each
    drawn.clear()
    fixed = pipelines.CaffeTrainTransform(size=8, pixel_mean=(0, 0, 0))
    for seed in range(20):
        fixed(image, boxes, np.array([1]), rng=np.random.default_rng(seed))
    assert set(drawn) == {cv2.INTER_LINEAR}
