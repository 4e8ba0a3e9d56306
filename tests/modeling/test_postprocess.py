import torch
from torchvision.ops import nms

from ssd.modeling.box_coder import BoxCoder
from ssd.modeling.postprocess import postprocess_detections, select_detections


def _random_case(num_priors=300, num_classes=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(num_priors, 2, generator=g) * 80
    boxes = torch.cat([xy, xy + 5 + torch.rand(num_priors, 2, generator=g) * 30], dim=1)
    scores = torch.rand(num_priors, num_classes - 1, generator=g)
    return boxes, scores


def _brute_force(boxes, scores, thr, iou, topk, max_det):
    out = []
    for c in range(scores.shape[1]):  # per class: threshold, top-k, NMS
        s = scores[:, c]
        keep = s > thr
        b, s = boxes[keep], s[keep]
        s, order = s.sort(descending=True)
        b = b[order][:topk]
        s = s[:topk]
        for i in nms(b, s, iou).tolist():
            out.append((s[i].item(), c + 1, tuple(b[i].tolist())))
    out.sort(key=lambda t: -t[0])
    return out[:max_det]


def test_equals_brute_force_per_class_nms():
    boxes, scores = _random_case()
    for thr, iou, topk, max_det in [(0.3, 0.45, 50, 100), (0.9, 0.5, 200, 20), (0.0, 0.3, 10, 1000)]:
        got = select_detections(boxes, scores, score_threshold=thr, nms_threshold=iou,
                                topk_candidates=topk, max_detections=max_det)
        expected = _brute_force(boxes, scores, thr, iou, topk, max_det)
        assert len(got["scores"]) == len(expected) > 0
        got_list = [(s, int(l), tuple(b)) for s, l, b in
                    zip(got["scores"].tolist(), got["labels"].tolist(), got["boxes"].tolist(), strict=True)]
        assert got_list == expected


def test_candidates_are_bounded_when_everything_passes():
    # an untrained model: every score above the threshold; at most topk per class reach NMS
    boxes, scores = _random_case(num_priors=2000, num_classes=81)
    boxes = boxes[:, :2].repeat(1, 2) + torch.tensor([0.0, 0.0, 1.0, 1.0]) * 1000  # no overlaps
    got = select_detections(boxes, scores, score_threshold=0.0, nms_threshold=0.5,
                            topk_candidates=7, max_detections=10_000)
    assert len(got["scores"]) <= 7 * 80
    assert torch.bincount(got["labels"]).max() <= 7


def test_postprocess_returns_input_pixel_boxes_clipped():
    priors = torch.tensor([[10.0, 10.0, 30.0, 30.0], [-10.0, -10.0, 20.0, 20.0]])
    logits = torch.tensor([[[0.0, 5.0], [0.0, 5.0]]])
    out = postprocess_detections(
        logits, torch.zeros(1, 2, 4), priors, box_coder=BoxCoder(), image_size=(50, 50),
        score_threshold=0.5, nms_threshold=0.99, topk_candidates=10, max_detections=10,
    )
    assert len(out) == 1
    assert sorted(out[0]["boxes"].tolist()) == [[0.0, 0.0, 20.0, 20.0], [10.0, 10.0, 30.0, 30.0]]
    assert out[0]["labels"].tolist() == [1, 1]


def test_boxes_are_clipped_only_when_asked():
    priors = torch.tensor([[-10.0, -10.0, 20.0, 20.0]])
    kwargs = dict(box_coder=BoxCoder(), image_size=(50, 50), score_threshold=0.5, nms_threshold=0.5,
                  topk_candidates=10, max_detections=10)
    logits = torch.tensor([[[0.0, 5.0]]])
    clipped = postprocess_detections(logits, torch.zeros(1, 1, 4), priors, **kwargs)
    raw = postprocess_detections(logits, torch.zeros(1, 1, 4), priors, clip_boxes=False, **kwargs)
    assert clipped[0]["boxes"].tolist() == [[0.0, 0.0, 20.0, 20.0]]
    assert raw[0]["boxes"].tolist() == [[-10.0, -10.0, 20.0, 20.0]]
