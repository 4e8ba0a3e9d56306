import glob
import os

import pytest
import torch
from torchvision.models.detection._utils import SSDMatcher

from ssd.config import load_config
from ssd.modeling.box_coder import BoxCoder
from ssd.modeling.head.box_head import build_targets
from ssd.modeling.matcher import argmax_matches, bipartite_matches, match_from_iou, match_priors


def test_hand_written_iou_matrix_with_forced_match():
    # 2 ground truths x 5 priors
    iou = torch.tensor([
        [0.7, 0.2, 0.50, 0.1, 0.0],
        [0.6, 0.3, 0.45, 0.4, 0.0],
    ])
    # prior 0: best gt 0 (0.7); prior 2: gt 0 at exactly the threshold; prior 1, 3, 4 below 0.5.
    # gt 1's best prior is 0 (0.6) -> forced there, overriding gt 0 on prior 0.
    assert match_from_iou(iou, 0.5).tolist() == [1, -1, 0, -1, -1]


def test_forced_match_below_threshold():
    iou = torch.tensor([[0.1, 0.3, 0.2]])
    assert match_from_iou(iou, 0.5).tolist() == [-1, 0, -1]


def test_no_ground_truth_is_all_background():
    assert match_from_iou(torch.zeros(0, 4), 0.5).tolist() == [-1, -1, -1, -1]
    priors = torch.tensor([[0.0, 0.0, 10.0, 10.0], [10.0, 10.0, 20.0, 20.0]])
    assert match_priors(torch.zeros(0, 4), priors).tolist() == [-1, -1]


def test_match_priors_uses_iou_of_boxes():
    priors = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 20.0], [50.0, 50.0, 60.0, 60.0]])
    gt = torch.tensor([[0.0, 0.0, 10.0, 10.0]])  # IoU 1.0, 0.5, 0.0
    assert match_priors(gt, priors, 0.5).tolist() == [0, 0, -1]


# --- bipartite (Caffe MatchBBox) vs argmax (torchvision SSDMatcher) ---------------------------------

# Two objects that both overlap prior 0 most; no IoU reaches the 0.5 threshold.
CLUSTERED = torch.tensor([
    [0.45, 0.30, 0.00],
    [0.40, 0.35, 0.10],
])


def test_argmax_lets_a_later_ground_truth_take_the_only_prior_of_an_earlier_one():
    # gt 0 and gt 1 both force prior 0; gt 1 (later) wins, gt 0 is left with no positive.
    assert argmax_matches(CLUSTERED, 0.5).tolist() == [1, -1, -1]


def test_bipartite_gives_each_ground_truth_a_distinct_prior():
    # global max 0.45 = (prior 0, gt 0) -> paired; remaining pool: gt 1 over priors 1, 2 -> 0.35 at
    # prior 1. Prior 2 then has no IoU >= 0.5 -> background.
    assert bipartite_matches(CLUSTERED, 0.5).tolist() == [0, 1, -1]


def test_bipartite_then_per_prediction_matches_above_threshold():
    iou = torch.tensor([
        [0.9, 0.8, 0.6, 0.0, 0.2],
        [0.7, 0.1, 0.55, 0.3, 0.0],
    ])
    # bipartite: 0.9 (p0, g0); then g1 over p1..p4: 0.55 at p2. per prediction over the rest:
    # p1 best g0 0.8 >= 0.5 -> 0; p3 0.3, p4 0.2 below -> -1.
    assert bipartite_matches(iou, 0.5).tolist() == [0, 0, 1, -1, -1]
    # argmax: per prior p0 -> g0 (0.9), p1 -> g0, p2 -> g0 (0.6 > 0.55); forced: g0 -> p0, g1 -> p0
    # (its best is p0 at 0.7), so g1 takes p0 and g0 keeps p1, p2.
    assert argmax_matches(iou, 0.5).tolist() == [1, 0, 0, -1, -1]


def test_bipartite_ties_go_to_the_lowest_prior_then_the_lowest_ground_truth():
    iou = torch.tensor([
        [0.3, 0.6, 0.6],
        [0.6, 0.6, 0.3],
    ])
    # maxima 0.6 at (p0,g1), (p1,g0), (p1,g1), (p2,g0): Caffe scans priors first -> (p0, g1);
    # then g0 over p1, p2: tie 0.6 -> p1. p2 per prediction: g0 0.6 -> 0.
    assert bipartite_matches(iou, 0.5).tolist() == [1, 0, 0]


def test_bipartite_leaves_a_ground_truth_without_overlap_unmatched():
    iou = torch.tensor([[0.0, 0.0, 0.0], [0.2, 0.7, 0.0]])
    assert bipartite_matches(iou, 0.5).tolist() == [-1, 1, -1]
    # argmax forces gt 0 onto prior 0 (argmax of all zeros) although they do not overlap
    assert argmax_matches(iou, 0.5).tolist() == [0, 1, -1]


def _caffe_match_bbox(iou: torch.Tensor, threshold: float) -> list[int]:
    """A line-by-line transcription of Caffe's MatchBBox (bbox_util.cpp), BIPARTITE + PER_PREDICTION."""
    num_gt, num_pred = iou.shape
    rows = iou.tolist()
    match = [-1] * num_pred
    overlaps = {i: {j: rows[j][i] for j in range(num_gt) if rows[j][i] > 1e-6} for i in range(num_pred)}
    pool = list(range(num_gt))
    while pool:
        max_idx, max_gt, max_overlap = -1, -1, -1.0
        for i in range(num_pred):
            if match[i] != -1:
                continue
            for j in pool:
                if j in overlaps[i] and overlaps[i][j] > max_overlap:
                    max_idx, max_gt, max_overlap = i, j, overlaps[i][j]
        if max_idx == -1:
            break
        match[max_idx] = max_gt
        pool.remove(max_gt)
    for i in range(num_pred):
        if match[i] != -1:
            continue
        max_gt, max_overlap = -1, -1.0
        for j in range(num_gt):
            if j in overlaps[i] and overlaps[i][j] >= threshold and overlaps[i][j] > max_overlap:
                max_gt, max_overlap = j, overlaps[i][j]
        match[i] = max_gt
    return match


def test_bipartite_equals_caffe_match_bbox_on_matrices_full_of_ties_and_zeros():
    for seed in range(200):
        g = torch.Generator().manual_seed(seed)
        num_gt, num_pred = (int(torch.randint(1, n, (1,), generator=g)) for n in (6, 12))
        iou = torch.randint(0, 7, (num_gt, num_pred), generator=g).float() / 8  # 0, 1/8 .. 6/8
        assert bipartite_matches(iou, 0.5).tolist() == _caffe_match_bbox(iou, 0.5), (seed, iou)


def test_argmax_equals_torchvision_ssd_matcher():
    for seed in range(20):
        g = torch.Generator().manual_seed(seed)
        iou = torch.rand(int(torch.randint(1, 8, (1,), generator=g)), 40, generator=g)
        assert torch.equal(argmax_matches(iou, 0.5), SSDMatcher(0.5)(iou)), seed


@pytest.mark.parametrize("matcher", ["bipartite", "argmax"])
def test_both_rules_agree_on_empty_ground_truth(matcher):
    assert match_from_iou(torch.zeros(0, 3), 0.5, matcher).tolist() == [-1, -1, -1]


def test_unknown_matcher_is_an_error():
    with pytest.raises(ValueError, match="matcher = 'hungarian'; expected one of"):
        match_from_iou(CLUSTERED, 0.5, "hungarian")


def test_build_targets_uses_the_chosen_matcher():
    # two objects that both overlap prior 0 most: IoU 56/124 = 0.452 and 60/140 = 0.429 with prior 0,
    # 24/156 = 0.154 and 40/160 = 0.25 with prior 1
    priors = torch.tensor([[0.0, 0.0, 10.0, 10.0], [10.0, 0.0, 20.0, 10.0]])
    boxes = torch.tensor([[3.0, 0.0, 13.0, 8.0], [4.0, 0.0, 14.0, 10.0]])
    targets = [{"boxes": boxes, "labels": torch.tensor([1, 2])}]
    labels, _ = build_targets(targets, priors, BoxCoder(), 0.5, "argmax")
    assert labels.tolist() == [[2, 0]]  # object 0 (label 1) lost its only prior
    labels, _ = build_targets(targets, priors, BoxCoder(), 0.5, "bipartite")
    assert labels.tolist() == [[1, 2]]


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, "configs", "*.yaml"))
                 + glob.glob(os.path.join(ROOT, "configs", "converted", "*.yaml")))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: os.path.relpath(p, ROOT))
def test_configs_citing_caffe_scripts_match_bipartite_and_the_others_argmax(path):
    with open(path, encoding="utf-8") as f:
        header = "".join(line for line in f if line.startswith("#"))
    # a model part taken from NVIDIA's DeepLearningExamples keeps NVIDIA's (argmax) matcher
    cites_caffe = ("ssd_pascal" in header or "ssd_coco.py" in header) and "NVIDIA" not in header
    assert load_config(path).MODEL.MATCHER == ("bipartite" if cites_caffe else "argmax")
