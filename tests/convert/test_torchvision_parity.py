"""Numerical parity with torchvision: its SSD300-VGG16 and SSDLite320-MobileNetV3 with random weights
(BatchNorm statistics and every bias randomised, so each tensor's placement matters) are saved,
converted (then saved, and read back into a zeroed model) and run beside the converted model on the same images,
sized to the model input so torchvision's resize is the identity (checked). Detections must agree:
same count, same COCO category ids, boxes within 1e-3 px, scores within 1e-5."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn
from torchvision.models.detection import ssd300_vgg16, ssdlite320_mobilenet_v3_large

from ssd.checkpoint.io import load_checkpoint, model_state
from ssd.config import load_config
from ssd.convert import convert_weights
from ssd.utils.checkpoint import atomic_save

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOX_TOL, SCORE_TOL = 1e-3, 1e-5
NUM_IMAGES = 3


@torch.no_grad()
def _randomise(model: nn.Module, images: list[torch.Tensor], *, cls_scale: float) -> None:
    """Random biases, BatchNorm statistics and affine parameters (torchvision initialises them to
    constants, which would hide a swapped tensor) and a sharper classifier, so that scores spread
    from ~0 to ~1 instead of all sitting near 1/91.

    BatchNorm statistics are measured on two of the images (a training-mode pass with momentum 1) and
    then perturbed: arbitrary statistics would push activations into ReLU6 / hard-swish saturation,
    where many positions give exactly equal scores and NMS order among ties becomes arbitrary.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and m.bias is not None:
            m.bias.uniform_(-0.05, 0.05)
    for m in norms:
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.3, 0.3)
        m.momentum = 1.0
    if norms:
        model.train()
        model.head(list(model.backbone(model.transform(images[:2])[0].tensors).values()))
    model.eval()
    for m in norms:
        m.running_mean.add_(torch.empty_like(m.running_mean).uniform_(-0.05, 0.05))
        m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.8, 1.25))
        m.num_batches_tracked.fill_(1234)
    for head in model.head.classification_head.module_list:
        last = head if isinstance(head, nn.Conv2d) else head[-1]
        last.weight.mul_(cls_scale)
        last.bias.normal_(0.0, 1.0)
    if hasattr(model.backbone, "scale_weight"):
        model.backbone.scale_weight.uniform_(10.0, 30.0)


def _images(size: int) -> torch.Tensor:
    """``Tensor[B, 3, size, size]`` uint8: smooth colour ramps with noise, a different image each."""
    g = torch.Generator().manual_seed(size)
    ramp = torch.linspace(0, 1, size)
    images = []
    for i in range(NUM_IMAGES):
        base = torch.stack([ramp.view(1, -1).expand(size, size), ramp.view(-1, 1).expand(size, size),
                            torch.full((size, size), i / NUM_IMAGES)])
        noise = torch.rand(3, size, size, generator=g)
        images.append(((0.6 * base + 0.4 * noise) * 255).round().to(torch.uint8))
    return torch.stack(images)


def _match(ref: dict, ours: dict, category_of: dict[int, int]) -> tuple[float, float]:
    """Pair every reference detection with one of ours of the same category id, box within
    BOX_TOL and score within SCORE_TOL (a pairing rather than a sort, so that near-equal scores may
    come out in either order). Returns the largest box and score differences."""
    assert len(ref["scores"]) == len(ours["scores"]), (len(ref["scores"]), len(ours["scores"]))
    our_cats = torch.tensor([category_of[int(label)] for label in ours["labels"]], dtype=torch.int64)
    free = torch.ones(len(our_cats), dtype=torch.bool)
    max_box = max_score = 0.0
    for box, score, label in zip(ref["boxes"], ref["scores"], ref["labels"], strict=True):
        box_diff = (ours["boxes"] - box).abs().amax(dim=1)
        score_diff = (ours["scores"] - score).abs()
        ok = free & (our_cats == int(label)) & (box_diff <= BOX_TOL) & (score_diff <= SCORE_TOL)
        assert ok.any(), f"no match for category {int(label)} score {float(score):.6f} box {box.tolist()}"
        j = int(torch.nonzero(ok)[0])
        free[j] = False
        max_box, max_score = max(max_box, float(box_diff[j])), max(max_score, float(score_diff[j]))
    return max_box, max_score


CASES = {
    "ssd300_vgg16": (ssd300_vgg16, "configs/converted/ssd300_vgg16_coco_torchvision.yaml", 300, 1.5),
    "ssdlite320_mobilenet_v3_large": (
        ssdlite320_mobilenet_v3_large, "configs/converted/ssdlite320_mnv3_coco_torchvision.yaml", 320, 1.0),
}


@pytest.mark.parametrize("arch", sorted(CASES))
def test_converted_torchvision_model_gives_identical_detections(arch, tmp_path):
    factory, config, size, cls_scale = CASES[arch]
    torch.manual_seed(0)
    reference = factory(weights=None, weights_backbone=None, num_classes=91)
    images = _images(size)
    floats = [img.float() / 255 for img in images]
    _randomise(reference, floats, cls_scale=cls_scale)
    source = tmp_path / f"{arch}.pth"
    torch.save(reference.state_dict(), source)

    model, checkpoint = convert_weights(source="torchvision", weights=str(source),
                                        cfg=load_config(os.path.join(ROOT, config)))
    output = tmp_path / "converted.pth"
    atomic_save(checkpoint, str(output))
    with torch.no_grad():
        for tensor in model.state_dict().values():
            tensor.zero_()
    checkpoint = load_checkpoint(str(output))
    model.load_state_dict(model_state(checkpoint, source=str(output)))
    model.eval()
    assert len(checkpoint["class_names"]) == 90 and checkpoint["class_names"][11] == "N/A"
    category_of = checkpoint["label_to_category_id"]

    with torch.no_grad():
        # torchvision's transform at the model's own size: the resize must leave pixels as they are
        batched, _ = reference.transform(floats)
        assert batched.tensors.shape == (NUM_IMAGES, 3, size, size)
        assert batched.image_sizes == [(size, size)] * NUM_IMAGES
        mean = torch.tensor(reference.transform.image_mean).view(1, 3, 1, 1)
        std = torch.tensor(reference.transform.image_std).view(1, 3, 1, 1)
        torch.testing.assert_close(batched.tensors, (torch.stack(floats) - mean) / std, rtol=0, atol=1e-6)
        assert torch.equal(model.normalizer(images), batched.tensors)  # bit for bit: no ulp to amplify

        expected = reference(floats)
        actual = model(images)

    total = sum(len(d["scores"]) for d in expected)
    confident = sum(int((d["scores"] > 0.5).sum()) for d in expected)
    assert total >= 20 * NUM_IMAGES and confident >= 5, (total, confident)
    for ref, ours in zip(expected, actual, strict=True):
        _match(ref, ours, category_of)
