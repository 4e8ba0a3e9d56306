"""Fine-tuning across class sets: what MODEL.WEIGHTS carries over to a model of other classes."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch

from ssd.checkpoint import TRANSFER_REPORT, load_pretrained_weights
from ssd.config import load_config
from ssd.convert.classes import torchvision_coco_layout
from ssd.modeling import build_model
from ssd.modeling.head.class_transfer import class_correspondence, transfer_class_weights

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "configs", "ssdlite320_mnv3_coco.yaml")
TINY = ["MODEL.BACKBONE.WIDTH_MULT", "0.25", "INPUT.IMAGE_SIZE", "96", "MODEL.DEVICE", "cpu",
        "MODEL.BACKBONE.WEIGHTS", ""]
SOURCE = ["circle", "square", "triangle", "star"]


def _model(names, *, seed, opts=()):
    cfg = load_config(CONFIG, [*TINY, "MODEL.NUM_CLASSES", str(len(names) + 1), *opts])
    torch.manual_seed(seed)
    return build_model(cfg, num_classes=len(names) + 1).eval(), cfg


def _trained_source(opts=()):
    """A source model whose class convs are far from any fresh init (so a carried row is visible)."""
    model, cfg = _model(SOURCE, seed=0, opts=opts)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in model.per_class_parameters():
                p.copy_(torch.randn_like(p))
    return model, cfg


def _logits(model, image):
    with torch.no_grad():
        return model.box_head.predictor(model.features(image))[0]  # Tensor[1, P, C]


def _same(actual, expected):
    """Equal up to float32 rounding: the same weights in a conv with another number of output
    channels may be summed in another order by the CPU kernel (measured: at most 6e-8 on logits
    of magnitude up to 2.6); a row carried to a wrong position differs by ~1."""
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def image():
    return torch.randint(0, 256, (1, 3, 96, 96), generator=torch.Generator().manual_seed(5)).float()


def test_the_predictor_declares_the_last_class_conv_of_each_level_with_its_boxes_per_cell():
    model, _ = _model(SOURCE, seed=0)
    declared = model.per_class_parameters()
    assert list(declared)[:4] == ["box_head.predictor.cls_heads.0.1.weight", "box_head.predictor.cls_heads.0.1.bias",
                                  "box_head.predictor.cls_heads.1.1.weight", "box_head.predictor.cls_heads.1.1.bias"]
    assert len(declared) == 12 and set(declared.values()) == {6}  # 6 levels, 2 + 2 * 2 boxes per cell
    state = model.state_dict()
    assert all(state[k].shape[0] == 6 * 5 for k in declared)


def test_class_correspondence_by_name_reordered_and_mapped():
    assert class_correspondence(SOURCE, ["star", "hexagon", "circle"]) == {0: 0, 1: 4, 3: 1}
    assert class_correspondence(SOURCE, ["pedestrian", "circle"], {"pedestrian": "square"}) == {0: 0, 1: 2, 2: 1}
    with pytest.raises(ValueError, match=r"maps \['bus'\], not in this run's classes \['circle'\]"):
        class_correspondence(SOURCE, ["circle"], {"bus": "square"})
    with pytest.raises(ValueError, match=r"maps to \['person'\], not \(once\) in the checkpoint's classes"):
        class_correspondence(SOURCE, ["pedestrian"], {"pedestrian": "person"})


def test_torchvision_coco_layout_carries_by_name_and_never_from_its_na_slots():
    names = torchvision_coco_layout().class_names  # 90 names, "N/A" at the unused category ids
    assert names[11] == "N/A" and names.count("N/A") == 10
    columns = class_correspondence(names, ["N/A", "dog", "pedestrian", "zebra"], {"pedestrian": "person"})
    # dog is category 18, person 1, zebra 24 in torchvision's layout (label = category id)
    assert columns == {0: 0, 2: 18, 3: 1, 4: 24}


def test_shared_classes_and_background_give_the_sources_logits_and_new_classes_start_fresh(image):
    source, _ = _trained_source()
    target_names = ["star", "hexagon", "circle"]
    target, cfg = _model(target_names, seed=1)
    fresh = {k: v.clone() for k, v in target.state_dict().items()}
    report = load_pretrained_weights(target, {"model": source.state_dict(), "class_names": SOURCE},
                                     source="src.pth", class_names=target_names)
    before, after = _logits(source, image), _logits(target, image)
    _same(after[..., [0, 1, 3]], before[..., [0, 4, 1]])  # background, star, circle
    assert not torch.equal(after[..., 2], before[..., 2])
    for name, boxes in target.per_class_parameters().items():  # hexagon's rows: the fresh init, untouched
        rows = target.state_dict()[name].reshape(boxes, 4, -1)[:, 2]
        assert torch.equal(rows, fresh[name].reshape(boxes, 4, -1)[:, 2])
    assert report.carried == [("__background__", "__background__"), ("star", "star"), ("circle", "circle")]
    assert report.fresh == ["hexagon"] and len(report.rebuilt) == 12 and not report.mismatched
    assert len(report.loaded) == len(fresh) - 12  # every other tensor, BN statistics included
    box_source, box_target = source.box_head.predictor, target.box_head.predictor
    with torch.no_grad():
        feats = source.features(image)
        assert torch.equal(box_source(feats)[1], box_target(target.features(image))[1])  # box regression


def test_a_focal_head_starts_its_new_classes_at_the_losss_prior(image):
    opts = ["MODEL.BOX_HEAD.LOSS", "focal"]
    source, _ = _trained_source(opts)
    target, _ = _model(["square", "hexagon"], seed=1, opts=opts)
    load_pretrained_weights(target, {"model": source.state_dict(), "class_names": SOURCE},
                            source="src.pth", class_names=["square", "hexagon"])
    prior = -math.log((1 - 0.01) / 0.01)
    for name, boxes in target.per_class_parameters().items():
        if name.endswith("bias"):
            assert torch.equal(target.state_dict()[name].reshape(boxes, 3)[:, 2], torch.full((boxes,), prior))
    _same(_logits(target, image)[..., :2], _logits(source, image)[..., [0, 2]])


def test_the_class_map_carries_renamed_classes(image):
    source, _ = _trained_source()
    target, _ = _model(["pedestrian"], seed=1)
    report = load_pretrained_weights(target, {"model": source.state_dict(), "class_names": SOURCE},
                                     source="src.pth", class_names=["pedestrian"], class_map={"pedestrian": "star"})
    _same(_logits(target, image), _logits(source, image)[..., [0, 4]])
    assert report.carried == [("__background__", "__background__"), ("pedestrian", "star")]


def test_the_ema_weights_are_the_ones_carried_over(image):
    source, _ = _trained_source()
    other, _ = _model(SOURCE, seed=7)
    target, _ = _model(SOURCE, seed=1)
    load_pretrained_weights(target, {"model": other.state_dict(), "model_ema": source.state_dict(),
                                     "class_names": SOURCE}, source="src.pth", class_names=SOURCE)
    assert torch.equal(_logits(target, image), _logits(source, image))


def test_the_report_is_written_to_the_output_dir(tmp_path):
    source, _ = _trained_source()
    target, _ = _model(["star", "hexagon"], seed=1)
    load_pretrained_weights(target, {"model": source.state_dict(), "class_names": SOURCE}, source="src.pth",
                            class_names=["star", "hexagon"], output_dir=str(tmp_path))
    data = json.loads((tmp_path / TRANSFER_REPORT).read_text())
    assert data["source"] == "src.pth" and data["fresh"] == ["hexagon"] and data["mismatched"] == {}
    assert data["carried"] == [{"class": "__background__", "from": "__background__"}, {"class": "star", "from": "star"}]


def test_another_architecture_is_still_an_error_unless_partial_loading_is_allowed():
    source, source_cfg = _model(SOURCE, seed=0, opts=["MODEL.BACKBONE.WIDTH_MULT", "0.5"])
    target, cfg = _model(["star"], seed=1)
    checkpoint = {"model": source.state_dict(), "class_names": SOURCE, "config": source_cfg.dump()}
    with pytest.raises(ValueError) as err:
        load_pretrained_weights(target, checkpoint, source="/runs/src.pth", class_names=["star"], config=cfg,
                                num_classes=2)
    message = str(err.value)
    assert message.startswith("src.pth is a mobilenet_v3_large + ssdlite_extras model with 5 classes; this config "
                              "builds mobilenet_v3_large + ssdlite_extras model with 2 classes. ")
    assert "backbone.features.2.block.0.0.weight [32, 8, 1, 1] vs [16, 8, 1, 1]" in message
    assert message.endswith("(or set MODEL.WEIGHTS_ALLOW_PARTIAL True to load only the tensors that fit)")
    report = load_pretrained_weights(target, checkpoint, source="src.pth", class_names=["star"], allow_partial=True)
    expected = "checkpoint [32, 8, 1, 1] vs model [16, 8, 1, 1]"
    assert report.mismatched["backbone.features.2.block.0.0.weight"] == expected
    assert report.loaded and report.mismatched


def test_a_bare_state_dict_of_other_classes_carries_nothing_by_name():
    source, _ = _model(SOURCE, seed=0)
    target, _ = _model(["star"], seed=1)
    with pytest.raises(ValueError, match="12 tensors do not match"):
        load_pretrained_weights(target, source.state_dict(), source="bare.pth", class_names=["star"])


def test_transfer_keeps_every_target_key_and_lists_unused_source_tensors():
    source = {"a": torch.ones(2), "extra": torch.zeros(1), "cls": torch.arange(6.0)}  # 2 boxes x 3 classes
    target = {"a": torch.zeros(2), "cls": torch.full((4,), -1.0)}  # 2 boxes x 2 classes
    state, report = transfer_class_weights(source, source_names=["x", "y"], target_state=target,
                                           target_names=["y"], per_class={"cls": 2})
    assert torch.equal(state["cls"], torch.tensor([0.0, 2.0, 3.0, 5.0]))  # box a: [bg, y] = source rows 3a, 3a + 2
    assert torch.equal(state["a"], torch.ones(2)) and report.unused == ["extra"] and report.loaded == ["a"]


def test_the_class_map_is_given_on_the_command_line_as_a_yaml_mapping():
    cfg = load_config(CONFIG, ["MODEL.WEIGHTS_CLASS_MAP", "{pedestrian: person, lorry: truck}"])
    assert dict(cfg.MODEL.WEIGHTS_CLASS_MAP) == {"pedestrian": "person", "lorry": "truck"}
    with pytest.raises(ValueError, match=r"MODEL.WEIGHTS_CLASS_MAP: expected a mapping like"):
        load_config(CONFIG, ["MODEL.WEIGHTS_CLASS_MAP", "person"])
