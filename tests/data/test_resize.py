"""Test-time resizes (ssd/data/transforms/resize.py): TF1 ResizeBilinear by hand on tiny arrays, and
the default OpenCV resize unchanged."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from ssd.config import get_cfg
from ssd.config.choices import RESIZE_MODES
from ssd.data.build import build_transform
from ssd.data.transforms import RESIZE_DTYPES, ResizeTransform, resize_tf_bilinear


def test_tf_bilinear_upsamples_2x2_to_3x3_by_hand():
    # scale 2/3: output u samples source x = 0, 2/3, 4/3; x = 4/3 has floor 1 and ceil 2, clamped
    # to 1 (the last column), so the last column copies it. Rows likewise.
    image = np.array([[0, 10], [20, 40]], dtype=np.uint8)
    row0 = [0, 10 * 2 / 3, 10]  # 0 + (10 - 0) * 2/3
    row1 = [20, 20 + 20 * 2 / 3, 40]
    middle = [a + (b - a) * 2 / 3 for a, b in zip(row0, row1, strict=True)]  # 40/3, 220/9, 30
    out = resize_tf_bilinear(image, height=3, width=3)
    assert out.dtype == np.float32 and out.shape == (3, 3)
    np.testing.assert_allclose(out, [row0, middle, row1], rtol=1e-6)
    assert out[1, 1] == pytest.approx(220 / 9, rel=1e-6)  # not rounded to 24


def test_tf_bilinear_downsamples_4x4_to_3x3_by_hand():
    # scale 4/3: source x = 0, 4/3, 8/3 -> neighbours (0, 0), (1, 2), (2, 3), weights 0, 1/3, 2/3.
    # Columns hold x**2 (0, 1, 4, 9): 0, 1 + 3/3 = 2, 4 + 5 * 2/3 = 22/3. Rows add 10 * y, linear,
    # so their interpolation is exact: 10 * (0, 4/3, 8/3).
    ys, xs = np.mgrid[0:4, 0:4]
    image = (10 * ys + xs**2).astype(np.float32)
    cols = np.array([0, 2, 22 / 3])
    rows = 10 * np.array([0, 4 / 3, 8 / 3])
    out = resize_tf_bilinear(image, height=3, width=3)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, rows[:, None] + cols[None, :], rtol=1e-6)


def test_tf_bilinear_channels_non_square_and_identity():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (5, 7)).astype(np.uint8)
    rgb = np.stack([grey, grey // 2, 255 - grey], axis=-1)
    out = resize_tf_bilinear(rgb, height=3, width=4)
    assert out.shape == (3, 4, 3) and out.dtype == np.float32
    single = resize_tf_bilinear(grey, height=3, width=4)
    np.testing.assert_array_equal(out[..., 0], single)
    np.testing.assert_allclose(out[..., 2], 255 - single, atol=1e-4)
    # rows: source y = v * 5/3 -> 0, 5/3 (1 + 2/3), 10/3 (3 + 1/3); columns: u * 7/4
    r, c = 2, 3
    y, x = 10 / 3, 21 / 4
    top = grey[3, 5] + (float(grey[3, 6]) - grey[3, 5]) * (x - 5)
    bottom = grey[4, 5] + (float(grey[4, 6]) - grey[4, 5]) * (x - 5)
    assert single[r, c] == pytest.approx(top + (bottom - top) * (y - 3), rel=1e-5)
    # same size: every source position is whole, weights 0: the pixels themselves, as float32
    np.testing.assert_array_equal(resize_tf_bilinear(rgb, height=5, width=7), rgb.astype(np.float32))


def test_tf_bilinear_refuses_empty_images():
    with pytest.raises(ValueError, match=r"shape \(0, 4, 3\)"):
        resize_tf_bilinear(np.zeros((0, 4, 3), np.uint8), height=3, width=3)


def test_resize_transform_tf_bilinear_gives_float32_and_scales_boxes():
    image = np.random.default_rng(1).integers(0, 256, (50, 100, 3), dtype=np.uint8)
    out, boxes, _ = ResizeTransform(size=20, mode="tf_bilinear")(
        image, np.array([[10, 5, 50, 25]], np.float32), np.array([1]))
    assert out.dtype == torch.float32 and out.shape == (3, 20, 20)
    torch.testing.assert_close(out, torch.from_numpy(resize_tf_bilinear(image, height=20, width=20)).permute(2, 0, 1))
    assert boxes.tolist() == [[2.0, 2.0, 10.0, 10.0]]


def test_default_resize_is_opencv_bit_for_bit():
    """The default (and "opencv") is what the test transform always was: cv2.resize INTER_LINEAR, uint8."""
    image = np.random.default_rng(2).integers(0, 256, (37, 61, 3), dtype=np.uint8)
    expected = torch.from_numpy(cv2.resize(image, (24, 24), interpolation=cv2.INTER_LINEAR)).permute(2, 0, 1)
    cfg = get_cfg()
    cfg.INPUT.IMAGE_SIZE = 24
    assert cfg.INPUT.RESIZE_MODE == "opencv"
    none = (np.zeros((0, 4), np.float32), np.zeros(0, np.int64))
    for transform in (ResizeTransform(size=24), ResizeTransform(size=24, mode="opencv"),
                      build_transform(cfg, is_train=False)):
        out = transform(image, *none)[0]
        assert out.dtype == torch.uint8 and torch.equal(out, expected)
    # and tf_bilinear really is another resize (half a source pixel of shift)
    assert not torch.equal(ResizeTransform(size=24, mode="tf_bilinear")(image, *none)[0].round().to(torch.uint8),
                           expected)


def test_build_transform_passes_the_mode_and_training_keeps_its_pipeline():
    cfg = get_cfg()
    cfg.INPUT.RESIZE_MODE = "tf_bilinear"
    assert build_transform(cfg, is_train=False).mode == "tf_bilinear"
    assert not isinstance(build_transform(cfg, is_train=True), ResizeTransform)


def test_every_mode_has_an_output_dtype_and_unknown_modes_are_refused():
    assert set(RESIZE_DTYPES) == set(RESIZE_MODES)
    with pytest.raises(ValueError, match="'cubic'"):
        ResizeTransform(size=8, mode="cubic")
