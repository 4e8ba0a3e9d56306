import glob
import os

import pytest
import torch
from torchvision.models.detection import ssd300_vgg16, ssdlite320_mobilenet_v3_large

from ssd.config import load_config
from ssd.modeling import build_model
from ssd.utils.model_stats import count_parameters

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, "configs", "**", "*.yaml"), recursive=True))


def _cfg(path, *opts):
    return load_config(os.path.join(ROOT, path), ["MODEL.BACKBONE.WEIGHTS", "", *opts])


def test_ssd300_vgg16_parameter_counts():
    assert count_parameters(build_model(_cfg("configs/ssd300_vgg16_voc0712.yaml"))) == 26_285_486
    ours = build_model(_cfg("configs/ssd300_vgg16_coco.yaml", "MODEL.NUM_CLASSES", "91"))
    theirs = ssd300_vgg16(weights=None, weights_backbone=None, num_classes=91)
    assert count_parameters(ours) == count_parameters(theirs) == 35_641_826


def test_ssdlite320_mnv3_parameter_count_equals_torchvision():
    ours = build_model(_cfg("configs/ssdlite320_mnv3_coco.yaml", "MODEL.NUM_CLASSES", "91"))
    theirs = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=91)
    assert count_parameters(ours) == count_parameters(theirs) == 3_440_060


@pytest.mark.parametrize(
    "path, boxes, maps",
    [
        ("configs/ssd300_vgg16_voc0712.yaml", 8732, [38, 19, 10, 5, 3, 1]),
        ("configs/ssd512_vgg16_voc0712.yaml", 24564, [64, 32, 16, 8, 4, 2, 1]),
        ("configs/ssdlite320_mnv3_coco.yaml", 3234, [20, 10, 5, 3, 2, 1]),
    ],
)
def test_default_box_counts_and_feature_maps(path, boxes, maps):
    model = build_model(_cfg(path))
    assert model.box_head.priors.shape == (boxes, 4)
    feats = model.eval().features(torch.zeros(1, 3, model.image_size, model.image_size))
    assert [f.shape[-1] for f in feats] == maps
    assert [f.shape[1] for f in feats] == model.neck.out_channels


def test_ssdlite_mnv3_taps_the_c4_expansion_and_reduced_tail():
    model = build_model(_cfg("configs/ssdlite320_mnv3_coco.yaml"))
    assert model.backbone.out_channels == [672, 480]
    model = build_model(_cfg("configs/ssdlite320_mnv3_coco.yaml", "MODEL.BACKBONE.REDUCED_TAIL", "False"))
    assert model.backbone.out_channels == [672, 960]


def test_level_count_mismatch_quotes_both_numbers():
    cfg = _cfg("configs/ssd300_vgg16_voc0712.yaml", "MODEL.PRIORS.ASPECT_RATIOS", "[[2], [2], [2], [2], [2]]",
               "MODEL.PRIORS.STRIDES", "[]", "MODEL.PRIORS.FIRST_LEVEL_RATIO", "0.0")
    with pytest.raises(ValueError, match="produce 6 feature maps.*describes 5 levels"):
        build_model(cfg)


def test_wrong_input_size_is_an_error():
    model = build_model(_cfg("configs/ssdlite320_mnv3_coco.yaml")).eval()
    with pytest.raises(ValueError, match=r"\[B, 3, 320, 320\], got \[1, 3, 300, 300\]"):
        model(torch.zeros(1, 3, 300, 300))


def test_num_classes_zero_needs_the_dataset_count():
    cfg = _cfg("configs/ssdlite320_mnv3_coco.yaml", "MODEL.NUM_CLASSES", "0")
    with pytest.raises(ValueError, match="NUM_CLASSES = 0"):
        build_model(cfg)
    assert build_model(cfg, num_classes=4).box_head.predictor.num_classes == 4


def test_config_files_found():
    names = {os.path.relpath(p, ROOT) for p in CONFIGS}
    assert {"configs/ssdlite320_mnv3_coco.yaml", "configs/ssd300_vgg16_voc0712.yaml",
            "configs/ssd512_vgg16_voc0712.yaml", "configs/ssd300_vgg16_coco.yaml",
            "configs/ssd512_vgg16_coco.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: os.path.relpath(p, ROOT))
def test_every_config_builds_trains_and_predicts(path):
    # a bounded candidate count: configs that mirror lufficc (no per-class cap) would spend minutes
    # in NMS on an untrained model, which tests nothing more
    cfg = load_config(path, ["MODEL.BACKBONE.WEIGHTS", "", "TEST.TOPK_CANDIDATES", "100"])
    torch.manual_seed(0)
    model = build_model(cfg, num_classes=cfg.MODEL.NUM_CLASSES or 3)
    s = model.image_size
    images = torch.randint(0, 256, (2, 3, s, s), dtype=torch.uint8)
    targets = [
        {"boxes": torch.tensor([[0.1 * s, 0.2 * s, 0.6 * s, 0.7 * s]]), "labels": torch.tensor([1])},
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)},  # background only
    ]
    model.train()
    losses = model(images, targets)
    assert set(losses) == {"loss_box", "loss_cls"}
    total = sum(losses.values())
    assert torch.isfinite(total) and total.item() > 0
    total.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    model.eval()
    with torch.no_grad():
        out = model(images)
    assert len(out) == 2
    for det in out:
        assert det["boxes"].shape[1] == 4 and len(det["boxes"]) == len(det["scores"]) == len(det["labels"])
        assert len(det["scores"]) <= cfg.TEST.MAX_PER_IMAGE


def test_out_strides_a_backbone_cannot_give_is_an_error():
    cfg = _cfg("configs/ssd300_vgg16_voc0712.yaml", "MODEL.BACKBONE.OUT_STRIDES", "[16, 32]")
    with pytest.raises(ValueError, match=r"OUT_STRIDES = \[16, 32\] but vgg16 returns maps at strides \[8, 16\]"):
        build_model(cfg)
    cfg = _cfg("configs/ssdlite320_mnv3_coco.yaml", "MODEL.BACKBONE.OUT_STRIDES", "[16, 64]")
    with pytest.raises(ValueError, match=r"strides \[16, 64\] reach beyond the network's stride 32"):
        build_model(cfg)


def test_mnv3_gives_a_stride_8_tap_on_the_shared_plan():
    model = build_model(_cfg("configs/ssdlite320_mnv3_coco.yaml", "MODEL.BACKBONE.OUT_STRIDES", "[8, 16, 32]",
                             "MODEL.PRIORS.ASPECT_RATIOS", str([[2, 3]] * 7)))
    # the expansion of features[7] (the block taking stride 8 to 16: 40 x 6 = 240 channels)
    assert model.backbone.out_channels == [240, 672, 480] and model.backbone.strides == [8, 16, 32]
