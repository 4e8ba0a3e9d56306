import math

import pytest
import torch
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
from torchvision.models.detection.image_list import ImageList

from ssd.modeling.anchors import boxes_per_location, caffe_scales, default_boxes, linear_scales

R2 = math.sqrt(2.0)


def test_two_by_two_map_by_hand():
    # 100 px image, 2x2 map: cell centres at 25 and 75; s_k = 30 px, s_k+1 = 60 px, ratio 2.
    boxes = default_boxes(
        feature_sizes=[(2, 2)], image_size=(100, 100), min_sizes=[30], max_sizes=[60],
        aspect_ratios=[[2]], clip="none",
    )
    big = math.sqrt(30 * 60) / 2  # half side of the sqrt(s_k s_k+1) box
    wide_w, wide_h = 30 * R2 / 2, 30 / R2 / 2
    expected = []
    for cy in (25.0, 75.0):  # row-major: y outer, x inner
        for cx in (25.0, 75.0):
            expected += [
                [cx - 15, cy - 15, cx + 15, cy + 15],
                [cx - big, cy - big, cx + big, cy + big],
                [cx - wide_w, cy - wide_h, cx + wide_w, cy + wide_h],
                [cx - wide_h, cy - wide_w, cx + wide_h, cy + wide_w],
            ]
    assert boxes.shape == (16, 4)
    assert boxes.dtype == torch.float32
    torch.testing.assert_close(boxes, torch.tensor(expected), atol=1e-4, rtol=0)


def test_clip_modes_on_a_corner_box():
    kwargs = dict(feature_sizes=[(1, 1)], image_size=(10, 10), min_sizes=[14], max_sizes=[14], aspect_ratios=[[]])
    # one cell centred at 5: a 14 px box spans -2..12
    assert default_boxes(**kwargs, clip="none")[0].tolist() == pytest.approx([-2, -2, 12, 12])
    assert default_boxes(**kwargs, clip="wh")[0].tolist() == pytest.approx([0, 0, 10, 10])
    assert default_boxes(**kwargs, clip="xyxy")[0].tolist() == pytest.approx([0, 0, 10, 10])
    # steps: a 4 px step puts the single cell's centre at 2; Caffe clips corners, torchvision sizes
    kwargs["steps"] = [4]
    assert default_boxes(**kwargs, clip="xyxy")[0].tolist() == pytest.approx([0, 0, 9, 9])
    assert default_boxes(**kwargs, clip="wh")[0].tolist() == pytest.approx([-3, -3, 7, 7])


def test_scale_rules():
    assert caffe_scales(6, 0.2, 0.9, 0.1) == pytest.approx([0.1, 0.2, 0.37, 0.54, 0.71, 0.88, 1.05])
    assert caffe_scales(6, 0.15, 0.9, 0.07) == pytest.approx([0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05])
    assert caffe_scales(7, 0.15, 0.9, 0.07) == pytest.approx([0.07, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 1.05])
    assert linear_scales(6, 0.2, 0.95) == pytest.approx([0.2, 0.35, 0.5, 0.65, 0.8, 0.95, 1.0])


def test_boxes_per_location():
    assert boxes_per_location([[2], [2, 3], [2, 3], [2, 3], [2], [2]]) == [4, 6, 6, 6, 4, 4]


def _count(sizes, ratios):
    return sum(h * w * n for (h, w), n in zip(sizes, boxes_per_location(ratios), strict=True))


def test_published_counts():
    ssd300 = [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
    assert _count(ssd300, [[2], [2, 3], [2, 3], [2, 3], [2], [2]]) == 8732
    ssd512 = [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    assert _count(ssd512, [[2], [2, 3], [2, 3], [2, 3], [2, 3], [2], [2]]) == 24564
    ssdlite = [(20, 20), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]
    assert _count(ssdlite, [[2, 3]] * 6) == 3234


def _torchvision_boxes(generator, sizes, image_size):
    images = ImageList(torch.zeros(1, 3, image_size, image_size), [(image_size, image_size)])
    feats = [torch.zeros(1, 1, h, w) for h, w in sizes]
    return generator(images, feats)[0]


def test_equals_torchvision_ssd300():
    sizes = [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
    ratios = [[2], [2, 3], [2, 3], [2, 3], [2], [2]]
    scales = caffe_scales(6, 0.15, 0.9, 0.07)
    tv = DefaultBoxGenerator(ratios, scales=scales, steps=[8, 16, 32, 64, 100, 300])
    ours = default_boxes(
        feature_sizes=sizes, image_size=(300, 300), min_sizes=[s * 300 for s in scales[:-1]],
        max_sizes=[s * 300 for s in scales[1:]], aspect_ratios=ratios, steps=[8, 16, 32, 64, 100, 300], clip="wh",
    )
    expected = _torchvision_boxes(tv, sizes, 300)
    assert ours.shape == expected.shape == (8732, 4)
    torch.testing.assert_close(ours, expected, atol=1e-3, rtol=0)


def test_equals_torchvision_ssdlite320():
    sizes = [(20, 20), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]
    ratios = [[2, 3]] * 6
    tv = DefaultBoxGenerator(ratios, min_ratio=0.2, max_ratio=0.95)
    scales = linear_scales(6, 0.2, 0.95)
    ours = default_boxes(
        feature_sizes=sizes, image_size=(320, 320), min_sizes=[s * 320 for s in scales[:-1]],
        max_sizes=[s * 320 for s in scales[1:]], aspect_ratios=ratios, clip="wh",
    )
    expected = _torchvision_boxes(tv, sizes, 320)
    assert ours.shape == expected.shape == (3234, 4)
    torch.testing.assert_close(ours, expected, atol=1e-3, rtol=0)


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="2 feature maps"):
        default_boxes(feature_sizes=[(2, 2), (1, 1)], image_size=(10, 10), min_sizes=[3], max_sizes=[5],
                      aspect_ratios=[[2]])


def _caffe_prior_boxes(*, layer_sizes, steps, min_sizes, max_sizes, aspect_ratios, img_size, clip):
    """weiliu89/caffe src/caffe/layers/prior_box_layer.cpp, Forward_cpu, written out in plain loops:
    per cell (row-major), per min size: the min-size box, the sqrt(min * max) box, then each
    aspect ratio r != 1 of [1, r1, 1/r1, r2, 1/r2, ...] (flip = true); normalised corners, clamped
    to [0, 1] only when ``clip``. Returned in pixels."""
    boxes = []
    for layer, size in enumerate(layer_sizes):
        ratios = [1.0]
        for r in aspect_ratios[layer]:
            ratios += [r, 1.0 / r]
        for h in range(size):
            for w in range(size):
                center_x = (w + 0.5) * steps[layer]
                center_y = (h + 0.5) * steps[layer]
                sides = [(min_sizes[layer], min_sizes[layer])]
                big = math.sqrt(min_sizes[layer] * max_sizes[layer])
                sides.append((big, big))
                for ar in ratios:
                    if abs(ar - 1.0) < 1e-6:
                        continue
                    sides.append((min_sizes[layer] * math.sqrt(ar), min_sizes[layer] / math.sqrt(ar)))
                for box_w, box_h in sides:
                    box = [(center_x - box_w / 2.0) / img_size, (center_y - box_h / 2.0) / img_size,
                           (center_x + box_w / 2.0) / img_size, (center_y + box_h / 2.0) / img_size]
                    if clip:
                        box = [min(max(v, 0.0), 1.0) for v in box]
                    boxes.append([v * img_size for v in box])
    return torch.tensor(boxes, dtype=torch.float32)


def _ssd_pascal_sizes():
    """examples/ssd/ssd_pascal.py: min_dim 300, ratios 20 .. 90 % in floor(70 / 4) = 17 % steps,
    conv4_3 at 10 % / 20 %."""
    min_dim, min_ratio, max_ratio, num_layers = 300, 20, 90, 6
    step = int(math.floor((max_ratio - min_ratio) / (num_layers - 2)))
    min_sizes, max_sizes = [], []
    for ratio in range(min_ratio, max_ratio + 1, step):
        min_sizes.append(min_dim * ratio / 100.0)
        max_sizes.append(min_dim * (ratio + step) / 100.0)
    return [min_dim * 10 / 100.0] + min_sizes, [min_dim * 20 / 100.0] + max_sizes


def test_ssd300_voc_config_priors_are_caffes_unclipped_ones():
    import os

    from ssd.config import load_config
    from ssd.modeling import build_priors

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cfg = load_config(os.path.join(root, "configs", "ssd300_vgg16_voc0712.yaml"), ["MODEL.BACKBONE.WEIGHTS", ""])
    assert cfg.MODEL.PRIORS.CLIP == "none"  # ssd_pascal.py: clip = False
    layer_sizes = [38, 19, 10, 5, 3, 1]
    ours = build_priors(cfg, [(s, s) for s in layer_sizes])
    min_sizes, max_sizes = _ssd_pascal_sizes()
    assert min_sizes == [30, 60, 111, 162, 213, 264] and max_sizes == [60, 111, 162, 213, 264, 315]
    caffe = dict(layer_sizes=layer_sizes, steps=[8, 16, 32, 64, 100, 300], min_sizes=min_sizes,
                 max_sizes=max_sizes, aspect_ratios=[[2], [2, 3], [2, 3], [2, 3], [2], [2]], img_size=300)
    expected = _caffe_prior_boxes(**caffe, clip=False)
    assert ours.shape == expected.shape == (8732, 4)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-4)
    # the setting matters: clipping would move 2,869 of the 8,732 boxes, by up to 128.3 px (the 3:1
    # box of the 5x5 map's top-right cell: x_max = 4.5 * 64 + 162 sqrt(3) / 2 = 428.3 -> 300)
    clipped = _caffe_prior_boxes(**caffe, clip=True)
    moved = (clipped - expected).abs().amax(dim=1)
    assert int((moved > 1e-6).sum()) == 2869
    assert float(moved.max()) == pytest.approx(4.5 * 64 + 162 * math.sqrt(3) / 2 - 300, abs=1e-3)
    # and Caffe's clip = true is our "xyxy"
    xyxy = default_boxes(feature_sizes=[(s, s) for s in layer_sizes], image_size=(300, 300), min_sizes=min_sizes,
                         max_sizes=max_sizes, aspect_ratios=caffe["aspect_ratios"], steps=caffe["steps"], clip="xyxy")
    torch.testing.assert_close(xyxy, clipped, rtol=0, atol=1e-4)
