import itertools

import cv2
import numpy as np
import pytest

from ssd.visualization.draw import (
    PALETTE,
    caption_layout,
    class_colour,
    contrast_ratio,
    draw_detections,
    line_width,
    text_colour,
)

NAMES = ["circle", "square", "triangle", "star"]


def _intersect(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("size, expected", [(100, 2), (300, 2), (1000, 3), (2000, 6)])
def test_line_width_grows_with_the_image(size, expected):
    assert line_width(size, size) == expected  # max(2, round(0.003 * side))


@pytest.mark.parametrize("size", [200, 2000])
def test_drawn_box_line_is_exactly_line_width_pixels(size):
    image = np.zeros((size, size, 3), np.uint8)
    x1, x2 = int(size * 0.2), int(size * 0.8)
    out = draw_detections(image, np.array([[x1, size * 0.3, x2, size * 0.7]]), np.array([1]), None, NAMES)
    row = out[size // 2].any(axis=1)  # a row through the middle crosses the left and right edges
    w = line_width(size, size)
    assert np.flatnonzero(row).tolist() == list(range(x1, x1 + w)) + list(range(x2 - w, x2))
    assert (out[size // 2, x1] == class_colour(1)).all()


def test_output_is_a_new_uint8_bgr_image_and_input_is_untouched():
    image = np.full((120, 160, 3), 255, np.uint8)
    before = image.copy()
    out = draw_detections(image, np.array([[10, 30, 80, 100]]), np.array([2]), np.array([0.9]), NAMES)
    assert out.shape == (120, 160, 3) and out.dtype == np.uint8
    assert np.array_equal(image, before)
    assert not np.array_equal(out, image)


def test_empty_input_draws_nothing():
    image = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    out = draw_detections(image, np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0), NAMES)
    assert np.array_equal(out, image) and out is not image


def test_background_or_unknown_label_is_an_error():
    image = np.zeros((50, 50, 3), np.uint8)
    with pytest.raises(ValueError, match="label 0 is outside 1..4"):
        draw_detections(image, np.array([[1, 1, 20, 20]]), np.array([0]), None, NAMES)
    with pytest.raises(ValueError, match="label 5"):
        draw_detections(image, np.array([[1, 1, 20, 20]]), np.array([5]), None, NAMES)


def test_caption_above_the_box_or_inside_at_the_top_edge():
    rects = caption_layout(
        np.array([[30, 100, 90, 160], [150, 4, 190, 60]]), np.array([[50, 20], [40, 20]]), height=300, width=300
    )
    assert rects.tolist() == [[30, 80, 80, 100], [150, 4, 190, 24]]


def test_caption_is_kept_inside_the_image_horizontally():
    rects = caption_layout(np.array([[280, 100, 300, 150]]), np.array([[50, 20]]), height=300, width=300)
    assert rects.tolist() == [[250, 80, 300, 100]]


def test_colliding_captions_shift_up_then_down_one_caption_height():
    boxes = np.array([[30, 100, 90, 160]] * 3, dtype=float)
    rects = caption_layout(boxes, np.array([[50, 20]] * 3), height=300, width=300)
    assert rects[:, 1].tolist() == [80, 60, 100]  # preferred, one up, one down


def test_crowded_captions_never_intersect_and_stay_in_the_image():
    rng = np.random.default_rng(0)
    centre = rng.uniform(80, 120, (12, 2))
    boxes = np.concatenate([centre - 30, centre + 30], axis=1)  # 12 boxes piled on each other
    sizes = rng.integers(40, 90, (12, 2)) // [1, 3]
    rects = caption_layout(boxes, sizes, height=240, width=320)
    for a, b in itertools.combinations(rects.tolist(), 2):
        assert not _intersect(a, b), (a, b)
    assert (rects[:, :2] >= 0).all() and (rects[:, 2] <= 320).all() and (rects[:, 3] <= 240).all()


def test_drawn_captions_of_a_crowd_do_not_overwrite_each_other():
    # 6 identical boxes of 6 classes: each caption is filled with its class colour, and every
    # colour is still visible outside the (shared) outline after all are drawn
    image = np.full((300, 300, 3), 255, np.uint8)
    names = [f"class{i}" for i in range(6)]
    out = draw_detections(
        image, np.array([[100, 150, 200, 250]] * 6), np.arange(1, 7), np.linspace(0.9, 0.4, 6), names
    )
    w = line_width(300, 300)
    ring = np.zeros((300, 300), bool)
    ring[150:250, 100:200] = True
    ring[150 + w : 250 - w, 100 + w : 200 - w] = False
    for label in range(1, 7):
        fill = (out == class_colour(label)).all(axis=2) & ~ring
        assert fill.sum() > 100, label


def test_palette_is_distinct_per_class_and_visible_on_light_and_dark():
    colours = [class_colour(label) for label in range(1, len(PALETTE) + 1)]
    assert len(set(colours)) == len(PALETTE) == 20
    assert class_colour(len(PALETTE) + 1) == class_colour(1)
    lab = cv2.cvtColor(np.uint8([colours]), cv2.COLOR_BGR2LAB)[0].astype(float)
    lab[:, 0] *= 100 / 255
    lab[:, 1:] -= 128
    delta_e = np.linalg.norm(lab[:, None] - lab[None], axis=2) + np.eye(len(colours)) * 1e9
    assert delta_e.min() > 10  # CIE76: 2.3 is "just noticeable"
    for c in colours:
        assert contrast_ratio(c, (0, 0, 0)) >= 2.5 and contrast_ratio(c, (255, 255, 255)) >= 2.5, c


def test_contrast_ratio_and_text_colour():
    assert contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert text_colour((0, 255, 255)) == (0, 0, 0)  # yellow fill: black text
    assert text_colour((128, 0, 0)) == (255, 255, 255)  # dark blue fill: white text
