import torch
import torch.nn.functional as F

from ssd.modeling.loss import MultiBoxLoss, hard_negative_mask, positive_normaliser


def test_hard_negative_count_is_three_per_positive_capped():
    loss = torch.arange(10, dtype=torch.float32).repeat(2, 1)  # higher index = harder
    positive = torch.zeros(2, 10, dtype=torch.bool)
    positive[0, 9] = True  # image 0: 1 positive -> the 3 hardest negatives 8, 7, 6
    positive[1, :4] = True  # image 1: 4 positives -> 12 wanted, only 6 negatives exist
    mask = hard_negative_mask(loss, positive, 3)
    assert mask[0].nonzero().flatten().tolist() == [6, 7, 8]
    assert mask[1].nonzero().flatten().tolist() == [4, 5, 6, 7, 8, 9]
    assert not (mask & positive).any()


def test_min_negatives_for_background_images():
    loss = torch.tensor([[0.1, 0.9, 0.5, 0.3]])
    positive = torch.zeros(1, 4, dtype=torch.bool)
    assert hard_negative_mask(loss, positive, 3).sum() == 0
    assert hard_negative_mask(loss, positive, 3, min_negatives=2)[0].tolist() == [False, True, True, False]


def test_loss_by_hand():
    # 1 image, 6 priors, 3 classes; prior 0 is class 2, the rest background.
    logits = torch.tensor([[[0.0, 0.0, 1.0], [2.0, 0.0, 0.0], [0.0, 1.0, 0.0],
                            [0.0, 0.0, 3.0], [1.0, 0.5, 0.0], [5.0, 0.0, 0.0]]])
    labels = torch.tensor([[2, 0, 0, 0, 0, 0]])
    deltas = torch.zeros(1, 6, 4)
    deltas[0, 0] = torch.tensor([0.5, -2.0, 0.0, 1.0])
    targets = torch.zeros(1, 6, 4)
    out = MultiBoxLoss(neg_pos_ratio=3)(logits, deltas, labels, targets)
    ce = F.cross_entropy(logits[0], labels[0], reduction="none")
    # hardest negatives by background loss: priors 3 (-log p0 largest), 2, 4
    assert abs(out["loss_cls"].item() - (ce[0] + ce[3] + ce[2] + ce[4]).item()) < 1e-6
    # smooth L1 (beta 1): 0.5*0.5^2 + (2 - 0.5) + 0 + (1 - 0.5) = 0.125 + 1.5 + 0.5
    assert abs(out["loss_box"].item() - 2.125) < 1e-6


def test_empty_ground_truth_gives_finite_losses_and_zero_box_loss():
    logits = torch.randn(2, 50, 4, requires_grad=True)
    deltas = torch.randn(2, 50, 4, requires_grad=True)
    out = MultiBoxLoss()(logits, deltas, torch.zeros(2, 50, dtype=torch.long), torch.zeros(2, 50, 4))
    assert out["loss_box"].item() == 0.0
    assert torch.isfinite(out["loss_cls"])
    (out["loss_box"] + out["loss_cls"]).backward()
    assert torch.isfinite(logits.grad).all()


def test_one_box_gives_positive_losses():
    torch.manual_seed(0)
    labels = torch.zeros(1, 50, dtype=torch.long)
    labels[0, 7] = 1
    out = MultiBoxLoss()(torch.randn(1, 50, 3), torch.randn(1, 50, 4), labels, torch.randn(1, 50, 4))
    assert out["loss_box"].item() > 0
    assert out["loss_cls"].item() > 0


def test_declares_softmax_scores_and_no_bias_prior():
    assert MultiBoxLoss().score_activation == "softmax"
    assert MultiBoxLoss().cls_bias_prior is None


def test_single_process_normaliser_is_the_positive_count_at_least_one():
    positive = torch.tensor([[True, False, True], [False, False, True]])
    assert positive_normaliser(positive, torch.float32).item() == 3.0
    assert positive_normaliser(torch.zeros(2, 3, dtype=torch.bool), torch.float32).item() == 1.0


def test_per_image_normalisation_by_hand():
    # NVIDIA's Loss: (total_loss * num_mask / pos_num).mean(0). Image 0: one positive (prior 0), image
    # 1: two positives (priors 0, 1), image 2: none; neg_pos_ratio 1, 3 classes, 4 priors
    logits = torch.tensor([
        [[0.0, 0.0, 1.0], [2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0]],
        [[0.0, 1.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0], [1.0, 0.0, 0.0]],
        [[0.0, 0.0, 1.0], [0.0, 0.0, 2.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
    ])
    labels = torch.tensor([[2, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
    deltas = torch.zeros(3, 4, 4)
    deltas[0, 0, 0] = 3.0  # smooth L1: 3 - 0.5 = 2.5
    deltas[1, 0, 1] = 0.5  # 0.125
    deltas[1, 1, 2] = -2.0  # 1.5
    targets = torch.zeros(3, 4, 4)
    image = MultiBoxLoss(neg_pos_ratio=1, normalisation="image")(logits, deltas, labels, targets)
    batch = MultiBoxLoss(neg_pos_ratio=1)(logits, deltas, labels, targets)
    # box: (2.5 / 1 + (0.125 + 1.5) / 2 + 0) / 3 images; by the batch's 3 positives: 4.125 / 3
    assert abs(image["loss_box"].item() - (2.5 + 1.625 / 2) / 3) < 1e-6
    assert abs(batch["loss_box"].item() - 4.125 / 3) < 1e-6
    ce = [F.cross_entropy(logits[i], labels[i], reduction="none") for i in range(3)]
    # hardest negative of image 0: prior 3 (background logit lowest against 3.0); image 1: both
    # negatives (2 positives), image 2: none (no positives, MIN_NEGATIVES 0)
    cls0 = ce[0][0] + ce[0][3]
    cls1 = ce[1].sum()
    assert abs(image["loss_cls"].item() - (cls0 / 1 + cls1 / 2).item() / 3) < 1e-5
    assert abs(batch["loss_cls"].item() - (cls0 + cls1).item() / 3) < 1e-5


def test_unknown_normalisation_is_refused():
    import pytest

    with pytest.raises(ValueError, match="'positives'.*'batch', 'image'"):
        MultiBoxLoss(normalisation="positives")
