import math

import torch

from ssd.modeling.box_coder import BoxCoder


def test_encode_by_hand():
    coder = BoxCoder(0.1, 0.2)
    prior = torch.tensor([[0.0, 0.0, 10.0, 20.0]])  # centre (5, 10), size 10 x 20
    box = torch.tensor([[2.0, 4.0, 22.0, 24.0]])  # centre (12, 14), size 20 x 20
    expected = [(12 - 5) / 10 / 0.1, (14 - 10) / 20 / 0.1, math.log(20 / 10) / 0.2, math.log(20 / 20) / 0.2]
    torch.testing.assert_close(coder.encode(box, prior), torch.tensor([expected]))


def test_round_trip():
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(500, 2, generator=g) * 200
    wh = torch.rand(500, 2, generator=g) * 90 + 10
    boxes = torch.cat([xy, xy + wh], dim=1)
    pxy = torch.rand(500, 2, generator=g) * 200
    priors = torch.cat([pxy, pxy + torch.rand(500, 2, generator=g) * 90 + 10], dim=1)
    coder = BoxCoder()
    torch.testing.assert_close(coder.decode(coder.encode(boxes, priors), priors), boxes, atol=1e-3, rtol=0)


def test_decode_broadcasts_over_batch_and_zero_deltas_give_priors():
    priors = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 25.0, 15.0]])
    out = BoxCoder().decode(torch.zeros(3, 2, 4), priors)
    assert out.shape == (3, 2, 4)
    torch.testing.assert_close(out[2], priors)


def test_decode_limits_growth():
    # an untrained model can output huge size deltas: exp() stays finite (torchvision's clip)
    out = BoxCoder().decode(torch.tensor([[0.0, 0.0, 1e4, 1e4]]), torch.tensor([[0.0, 0.0, 16.0, 16.0]]))
    assert torch.isfinite(out).all()
    assert abs((out[0, 2] - out[0, 0]).item() - 1000.0) < 1e-3  # 16 px * 1000 / 16
