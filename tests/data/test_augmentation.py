"""Augmentation invariants, checked over many seeded draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssd.data.transforms import (
    CAFFE_SAMPLERS,
    BatchSampler,
    CaffeTrainTransform,
    LufficcTrainTransform,
    ResizeTransform,
    SSDLiteTrainTransform,
)
from ssd.data.transforms.geometry import (
    draw_expansion,
    draw_sampler_crops,
    iou_matrix,
    plan_caffe_crop,
    sample_caffe_crop,
)
from ssd.data.transforms.photometric import (
    apply_caffe_distortion,
    brightness_contrast_lut,
    draw_caffe_distortion,
    hsv_lut,
)

MEAN = (123.0, 117.0, 104.0)


def test_iou_matrix_hand_values():
    a = np.array([[0, 0, 2, 2], [0, 0, 1, 1]], dtype=np.float64)
    b = np.array([[1, 1, 3, 3], [0, 0, 2, 2]], dtype=np.float64)
    np.testing.assert_allclose(iou_matrix(a, b), [[1 / 7, 1.0], [0.0, 0.25]])


def test_every_caffe_sampler_is_chosen_and_meets_its_iou_bound():
    rng = np.random.default_rng(0)
    boxes = np.array([[0.1, 0.1, 0.9, 0.9], [0.05, 0.3, 0.35, 0.6]])
    counts = np.zeros(len(CAFFE_SAMPLERS), dtype=int)
    for _ in range(3000):
        k, crop = sample_caffe_crop(boxes, rng)
        counts[k] += 1
        sampler = CAFFE_SAMPLERS[k]
        best = iou_matrix(crop[None], boxes).max()
        if sampler.min_iou is not None:
            assert best >= sampler.min_iou
        if k == 0:
            np.testing.assert_array_equal(crop, [0, 0, 1, 1])
    assert (counts > 0).all(), counts
    # the 0.9 sampler succeeds least often, so it is chosen least often
    assert counts.argmin() == 5


def test_sampler_crops_respect_scale_and_aspect_rules():
    crops = draw_sampler_crops(CAFFE_SAMPLERS, np.random.default_rng(1))
    assert crops.shape == (7, 50, 4)
    for k, sampler in enumerate(CAFFE_SAMPLERS):
        c = crops[k, : sampler.max_trials]
        w, h = c[:, 2] - c[:, 0], c[:, 3] - c[:, 1]
        scale, aspect = np.sqrt(w * h), w / h
        assert ((scale >= sampler.min_scale - 1e-9) & (scale <= sampler.max_scale + 1e-9)).all()
        assert ((aspect >= sampler.min_aspect - 1e-9) & (aspect <= sampler.max_aspect + 1e-9)).all()
        assert ((aspect >= scale**2 - 1e-9) & (aspect <= 1 / scale**2 + 1e-9)).all()
        assert (c >= -1e-12).all() and (c <= 1 + 1e-12).all()  # inside the unit square


def test_no_boxes_keeps_the_whole_image_sample():
    rng = np.random.default_rng(2)
    for _ in range(50):
        k, crop = sample_caffe_crop(np.zeros((0, 4)), rng)
        assert k == 0 and crop.tolist() == [0, 0, 1, 1]


def test_expand_ratio_range_and_probability():
    rng = np.random.default_rng(3)
    ratios = []
    for _ in range(2000):
        e = draw_expansion(rng, width=50, height=40)
        assert 1.0 <= e.ratio <= 4.0
        assert (e.width, e.height) == (int(50 * e.ratio), int(40 * e.ratio))
        assert 0 <= e.left <= e.width - 50 and 0 <= e.top <= e.height - 40
        ratios.append(e.ratio)
    expanded = np.array(ratios) > 1.0
    assert 0.45 < expanded.mean() < 0.55
    assert np.array(ratios)[expanded].max() > 3.9


def test_kept_boxes_have_centre_in_crop_and_map_exactly():
    """End to end: the output boxes are the kept boxes, clipped to the crop, scaled, maybe flipped."""
    size = 64
    transform = CaffeTrainTransform(size=size, pixel_mean=MEAN)
    image = np.zeros((40, 60, 3), dtype=np.uint8)
    boxes = np.array([[0, 0, 20, 20], [30, 10, 60, 40], [5, 25, 15, 35], [25, 5, 35, 15]], dtype=np.float32)
    labels = np.array([1, 2, 3, 4], dtype=np.int64)
    seen_partial = False
    for seed in range(300):
        rng = np.random.default_rng(seed)
        draw_caffe_distortion(rng)  # the transform draws the distortion first
        plan = plan_caffe_crop(boxes, width=60, height=40, rng=rng)
        flip = rng.random() < 0.5
        _, out_boxes, out_labels = transform(image, boxes, labels, rng=np.random.default_rng(seed))

        e, (x1, y1, x2, y2) = plan.expansion, plan.crop
        canvas = boxes + [e.left, e.top, e.left, e.top]
        cx, cy = (canvas[:, 0] + canvas[:, 2]) / 2, (canvas[:, 1] + canvas[:, 3]) / 2
        inside = (cx >= x1) & (cx <= x2) & (cy >= y1) & (cy <= y2)
        np.testing.assert_array_equal(plan.keep, inside)
        assert out_labels.tolist() == labels[inside].tolist()
        seen_partial |= 0 < inside.sum() < 4
        expected = np.stack(
            [
                (np.clip(canvas[inside, 0], x1, x2) - x1) * size / (x2 - x1),
                (np.clip(canvas[inside, 1], y1, y2) - y1) * size / (y2 - y1),
                (np.clip(canvas[inside, 2], x1, x2) - x1) * size / (x2 - x1),
                (np.clip(canvas[inside, 3], y1, y2) - y1) * size / (y2 - y1),
            ],
            axis=1,
        ).reshape(-1, 4)
        if flip:
            expected[:, [0, 2]] = size - expected[:, [2, 0]]
        np.testing.assert_allclose(out_boxes.numpy(), expected, rtol=1e-5, atol=1e-4)
        assert out_boxes.dtype == torch.float32 and out_labels.dtype == torch.int64
    assert seen_partial


@pytest.mark.parametrize("delta,alpha", [(32.0, 1.5), (-32.0, 0.5), (20.0, None), (None, 1.49), (-7.6, 1.2)])
def test_brightness_contrast_lut_saturates_never_wraps(delta, alpha):
    lut = brightness_contrast_lut(delta, alpha).astype(int)
    v = np.arange(256, dtype=np.float64)
    ref = v if delta is None else np.clip(np.rint(v + delta), 0, 255)
    ref = ref if alpha is None else np.clip(np.rint(ref * alpha), 0, 255)
    np.testing.assert_array_equal(lut, ref)
    assert (np.diff(lut) >= 0).all()  # a wrap-around would break monotonicity


def test_uint8_images_saturate_at_both_ends():
    bright = np.full((4, 4, 3), 250, dtype=np.uint8)
    params = draw_caffe_distortion(np.random.default_rng(0))
    from dataclasses import replace

    up = replace(params, brightness=20.0, contrast=1.5, saturation=None, hue=None)
    assert (apply_caffe_distortion(bright, up) == 255).all()
    down = replace(params, brightness=-20.0, contrast=0.5, saturation=None, hue=None)
    assert (apply_caffe_distortion(np.full((4, 4, 3), 5, np.uint8), down) == 0).all()


def test_hue_wraps_on_the_180_scale_and_saturation_saturates():
    lut = hsv_lut(1.5, 18.0)[0]
    assert lut[175, 0] == 13 and lut[10, 0] == 28
    assert lut[200, 1] == 255 and lut[100, 1] == 150
    assert (lut[:, 2] == np.arange(256)).all()  # value untouched


def test_distortion_probabilities_and_ranges():
    rng = np.random.default_rng(5)
    draws = [draw_caffe_distortion(rng) for _ in range(4000)]
    for field, lo, hi in [
        ("brightness", -32, 32),
        ("contrast", 0.5, 1.5),
        ("saturation", 0.5, 1.5),
        ("hue", -18, 18),
    ]:
        values = [getattr(d, field) for d in draws if getattr(d, field) is not None]
        assert 0.47 < len(values) / len(draws) < 0.53, field
        assert lo <= min(values) and max(values) <= hi
        assert min(values) < lo + 0.05 * (hi - lo) and max(values) > hi - 0.05 * (hi - lo)
    assert 0.47 < np.mean([d.contrast_first for d in draws]) < 0.53


def test_flip_mirrors_boxes_exactly():
    """No expand, whole-image crop, same size: the bright square's pixels and its box must agree."""
    image = np.zeros((48, 48, 3), dtype=np.uint8)
    image[10:20, 5:30] = 255
    box = np.array([[5, 10, 30, 20]], dtype=np.float32)
    transform = CaffeTrainTransform(
        size=48, pixel_mean=MEAN, max_expand_ratio=1.0, samplers=(BatchSampler(),)
    )
    flips = 0
    for seed in range(40):
        out, boxes, _ = transform(image, box, np.array([1]), rng=np.random.default_rng(seed))
        gray = out.numpy().astype(int).sum(0)
        ys, xs = np.nonzero(gray > (gray.max() + gray.min()) / 2)
        assert boxes.tolist() == [[xs.min(), ys.min(), xs.max() + 1.0, ys.max() + 1.0]]
        flips += boxes[0, 0].item() == 48 - 30
    assert 10 < flips < 30  # both orientations occurred


@pytest.mark.parametrize(
    "transform",
    [
        CaffeTrainTransform(size=32, pixel_mean=MEAN),
        LufficcTrainTransform(size=32, pixel_mean=MEAN),
        SSDLiteTrainTransform(size=32, pixel_mean=MEAN),
        ResizeTransform(size=32),
    ],
    ids=["caffe", "lufficc", "ssdlite", "test"],
)
def test_image_without_boxes_passes_through(transform):
    image = np.random.default_rng(0).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    for seed in range(20):
        out, boxes, labels = transform(
            image, np.zeros((0, 4), np.float32), np.zeros(0, np.int64), rng=np.random.default_rng(seed)
        )
        assert out.shape == (3, 32, 32)
        assert out.dtype == (torch.float32 if isinstance(transform, LufficcTrainTransform) else torch.uint8)
        assert boxes.shape == (0, 4) and boxes.dtype == torch.float32
        assert labels.shape == (0,) and labels.dtype == torch.int64


@pytest.mark.parametrize("name", ["lufficc", "ssdlite"])
def test_variant_boxes_stay_inside_the_input(name):
    transform = (
        LufficcTrainTransform(size=40, pixel_mean=MEAN)
        if name == "lufficc"
        else SSDLiteTrainTransform(size=40, pixel_mean=MEAN)
    )
    image = np.full((30, 50, 3), 100, dtype=np.uint8)
    boxes = np.array([[0, 0, 10, 10], [20, 5, 45, 28]], dtype=np.float32)
    counts = set()
    for seed in range(200):
        _, out, labels = transform(image, boxes, np.array([1, 2]), rng=np.random.default_rng(seed))
        assert ((out >= 0) & (out <= 40)).all()
        assert ((out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1])).all()
        assert len(labels) >= 1  # both crops keep at least one box
        counts.add(len(labels))
    assert counts == {1, 2}


def test_test_transform_scales_boxes():
    image = np.zeros((50, 100, 3), dtype=np.uint8)
    out, boxes, _ = ResizeTransform(size=20)(image, np.array([[10, 5, 50, 25]], np.float32), np.array([1]))
    assert out.shape == (3, 20, 20) and boxes.tolist() == [[2.0, 2.0, 10.0, 10.0]]
