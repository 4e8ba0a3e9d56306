"""The TensorFlow options of the framework: SAME padding, the multiple-grid default boxes and the
``yxhw`` box order, each checked against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ssd.modeling.anchors import multiple_grid_box_specs, multiple_grid_boxes
from ssd.modeling.box_coder import BoxCoder
from ssd.modeling.padding import SamePadConv2d, same_padding, use_tf_same_padding


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [(300, 3, 2, (0, 1)), (75, 3, 2, (1, 1)), (10, 3, 2, (0, 1)), (2, 3, 2, (0, 1)), (1, 3, 2, (1, 1)),
     (19, 3, 1, (1, 1)), (224, 5, 2, (1, 2))],
)
def test_same_padding_matches_tensorflow_rule(size, kernel, stride, expected):
    # total = max((ceil(n / s) - 1) * s + k - n, 0), the odd pixel after
    assert same_padding(size, kernel, stride) == expected


def test_same_pad_conv_reads_from_the_top_left_corner():
    conv = nn.Conv2d(1, 1, 3, stride=2, padding=1, bias=False)
    nn.init.ones_(conv.weight)
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert conv(x).flatten().tolist() == [10.0, 24.0, 51.0, 90.0]  # symmetric: pads the top-left too
    assert use_tf_same_padding(conv) == 1
    assert isinstance(conv, SamePadConv2d)
    # SAME pads one zero row / column at the bottom / right only: windows rows 0-2 and 2-3(+pad)
    assert conv(x).flatten().tolist() == [45.0, 39.0, 66.0, 50.0]


def test_use_tf_same_padding_leaves_stride_one_and_valid_convs():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, stride=2, padding=0), nn.Conv2d(4, 4, 3, stride=2, padding=1)
    )
    keys = list(model.state_dict())
    assert use_tf_same_padding(model) == 1
    assert [type(m) for m in model] == [nn.Conv2d, nn.Conv2d, SamePadConv2d]
    assert list(model.state_dict()) == keys


def test_multiple_grid_specs_reduce_lowest_layer_and_interpolated_box():
    ratios = [[1.0, 2.0, 0.5, 3.0, 1 / 3]] * 6
    specs = multiple_grid_box_specs(num_levels=6, min_scale=0.2, max_scale=0.95, aspect_ratios=ratios,
                                    interpolated_scale_aspect_ratio=1.0, reduce_boxes_in_lowest_layer=True)
    assert specs[0] == [(0.1, 1.0), (0.2, 2.0), (0.2, 0.5)]
    assert [len(level) for level in specs] == [3, 6, 6, 6, 6, 6]
    assert [s for s, _ in specs[1][:5]] == pytest.approx([0.35] * 5)
    assert specs[1][5] == pytest.approx((math.sqrt(0.35 * 0.5), 1.0))
    assert specs[5][5] == pytest.approx((math.sqrt(0.95 * 1.0), 1.0))


def test_multiple_grid_boxes_by_hand():
    specs = [[(0.1, 1.0), (0.2, 2.0)], [(0.95, 1.0)]]
    boxes = multiple_grid_boxes(feature_sizes=[(2, 2), (1, 1)], image_size=(300, 300), box_specs=specs)
    assert boxes.shape == (2 * 2 * 2 + 1, 4)
    # cell (0, 0) of the 2x2 map: centre (75, 75); a 30 px square, then 0.2 sqrt2 x 0.2 / sqrt2 of 300
    w, h = 60 * math.sqrt(2), 60 / math.sqrt(2)
    torch.testing.assert_close(boxes[0], torch.tensor([60.0, 60.0, 90.0, 90.0]))
    torch.testing.assert_close(boxes[1], torch.tensor([75 - w / 2, 75 - h / 2, 75 + w / 2, 75 + h / 2]))
    # cell (0, 1): centre (225, 75) - row-major cells, boxes within a cell
    torch.testing.assert_close(boxes[2], torch.tensor([210.0, 60.0, 240.0, 90.0]))
    # nothing clipped: the 1x1 level's 285 px box about the centre
    torch.testing.assert_close(boxes[8], torch.tensor([7.5, 7.5, 292.5, 292.5]))


def test_pedestrian_layout_has_tensorflows_1917_boxes():
    ratios = [[1.0, 2.0, 0.5, 3.0, 1 / 3]] * 6
    specs = multiple_grid_box_specs(num_levels=6, min_scale=0.2, max_scale=0.95, aspect_ratios=ratios,
                                    reduce_boxes_in_lowest_layer=True)
    sizes = [(19, 19), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]
    assert multiple_grid_boxes(feature_sizes=sizes, image_size=(300, 300), box_specs=specs).shape == (1917, 4)


def test_yxhw_order_is_xywh_with_the_pairs_swapped():
    priors = torch.tensor([[10.0, 20.0, 50.0, 100.0]])
    boxes = torch.tensor([[12.0, 30.0, 60.0, 90.0]])
    xywh, yxhw = BoxCoder(), BoxCoder(order="yxhw")
    torch.testing.assert_close(yxhw.encode(boxes, priors), xywh.encode(boxes, priors)[:, [1, 0, 3, 2]])
    torch.testing.assert_close(yxhw.decode(yxhw.encode(boxes, priors), priors), boxes)
    # TF: ty = 10 (cy - cya) / ha; cy 60 vs 60 -> 0; tx = 10 (36 - 30) / 40 = 1.5
    assert yxhw.encode(boxes, priors)[0, :2].tolist() == pytest.approx([0.0, 1.5])
    with pytest.raises(ValueError, match="'xyhw'"):
        BoxCoder(order="xyhw")


def test_backbone_padding_key_changes_only_the_backbones_strided_convs():
    """lufficc's EfficientNet-B3 pads every backbone conv TF's way (its Conv2dSamePadding) but its
    extra layers are plain symmetric convs: MODEL.BACKBONE.PADDING alone gives that split."""
    import os

    from ssd.config import load_config
    from ssd.modeling import build_model

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cfg = load_config(os.path.join(root, "configs", "ssd300_effb3_voc0712.yaml"),
                      ["MODEL.BACKBONE.WEIGHTS", "", "MODEL.BACKBONE.PADDING", "tf_same"])
    model = build_model(cfg)
    same = [n for n, m in model.named_modules() if isinstance(m, SamePadConv2d)]
    # the stem and the first depthwise conv of the four stride-2 stages (EfficientNet-B3: 5 strided convs)
    assert len(same) == 5 and all(n.startswith("backbone.") for n in same)
    assert not any(isinstance(m, SamePadConv2d) for m in model.neck.modules())
    sizes = [tuple(f.shape[-2:]) for f in model.eval().features(torch.zeros(1, 3, 300, 300))]
    assert sizes[:3] == [(38, 38), (19, 19), (10, 10)]


def test_clip_after_nms_lets_nms_see_the_unclipped_boxes():
    from ssd.modeling.postprocess import postprocess_detections

    # A pokes 50 px out of the 100 x 100 image: unclipped IoU(A, B) = 5000 / 10000 = 0.5 < 0.6, both
    # kept (TF); clipped first, A is B and B is suppressed (torchvision's order)
    priors = torch.tensor([[-50.0, 0.0, 50.0, 100.0], [0.0, 0.0, 50.0, 100.0]])
    logits = torch.tensor([[[0.0, math.log(0.9 / 0.1)], [0.0, math.log(0.8 / 0.2)]]])
    common = dict(box_coder=BoxCoder(), image_size=(100, 100), score_threshold=0.1, nms_threshold=0.6,
                  topk_candidates=10, max_detections=10, activation="sigmoid")
    before = postprocess_detections(logits, torch.zeros(1, 2, 4), priors, clip_boxes=True, **common)[0]
    after = postprocess_detections(logits, torch.zeros(1, 2, 4), priors, clip_boxes=False, clip_after_nms=True,
                                   **common)[0]
    assert before["scores"].tolist() == pytest.approx([0.9])
    assert after["scores"].tolist() == pytest.approx([0.9, 0.8])
    assert after["boxes"].tolist() == [[0.0, 0.0, 50.0, 100.0], [0.0, 0.0, 50.0, 100.0]]


def test_clip_before_and_after_nms_together_is_refused():
    from ssd.config import get_cfg, validate_config

    cfg = get_cfg()
    cfg.TEST.CLIP_AFTER_NMS = True
    with pytest.raises(ValueError, match="CLIP_BOXES and TEST.CLIP_AFTER_NMS"):
        validate_config(cfg)
