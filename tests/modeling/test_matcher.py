import torch

from ssd.modeling.matcher import match_from_iou, match_priors


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
