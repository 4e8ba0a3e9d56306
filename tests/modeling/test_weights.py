import logging
import pathlib

import pytest
import torch
from torchvision.models import mobilenet_v3_large, vgg16

from ssd.modeling.backbone.mobilenet_v3 import MobileNetV3Backbone
from ssd.modeling.backbone.vgg import VGG16Backbone
from ssd.modeling.weights import fetch_state_dict, load_backbone_weights
from ssd.utils.download import DownloadError


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """A private torch hub cache through TORCH_HOME (torch.hub.set_dir would pin it for every later test)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub"


def test_torchvision_vgg16_weights_from_a_file_load_into_the_backbone(tmp_path, caplog):
    torch.manual_seed(0)
    classifier = vgg16(weights=None)
    path = tmp_path / "vgg16.pth"
    torch.save(classifier.state_dict(), path)
    backbone = VGG16Backbone()
    with caplog.at_level(logging.INFO):
        load_backbone_weights(backbone, str(path))
    torch.testing.assert_close(backbone.features[28].weight, classifier.features[28].weight)
    # fc6 / fc7 / l2 norm are not in an ImageNet classifier: reported, kept initialised
    assert "missing keys" in caplog.text and "fc6.weight" in caplog.text
    assert torch.all(backbone.l2_norm.weight == 20.0)


def test_reduced_fc_vgg_and_file_url(tmp_path, hub_dir):
    # the Caffe / lufficc reduced-fc VGG16: plain indices, fc6 at 31 and fc7 at 33
    state = {"0.weight": torch.randn(64, 3, 3, 3), "0.bias": torch.randn(64),
             "31.weight": torch.randn(1024, 512, 3, 3), "31.bias": torch.randn(1024),
             "33.weight": torch.randn(1024, 1024, 1, 1), "33.bias": torch.randn(1024)}
    path = tmp_path / "vgg16_reducedfc.pth"
    torch.save(state, path)
    backbone = VGG16Backbone()
    load_backbone_weights(backbone, pathlib.Path(path).as_uri())  # file:// URL, cached by torch hub
    assert any(hub_dir.rglob("vgg16_reducedfc.pth"))
    torch.testing.assert_close(backbone.fc6.weight, state["31.weight"])
    torch.testing.assert_close(backbone.fc7.bias, state["33.bias"])
    torch.testing.assert_close(backbone.features[0].weight, state["0.weight"])


def test_mobilenet_v3_weights_with_mismatched_tail_are_skipped(tmp_path, caplog):
    torch.manual_seed(0)
    classifier = mobilenet_v3_large(weights=None)  # full tail: 960 channels
    path = tmp_path / "mnv3.pth"
    torch.save({"model": classifier.state_dict()}, path)  # wrapped like a training checkpoint
    backbone = MobileNetV3Backbone(reduced_tail=True)
    with caplog.at_level(logging.WARNING):
        load_backbone_weights(backbone, str(path))
    torch.testing.assert_close(backbone.features[3].block[0][0].weight, classifier.features[3].block[0][0].weight)
    assert "features.16.0.weight has shape (960, 160, 1, 1), model has (480, 80, 1, 1); skipped" in caplog.text


def test_bad_specs_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        fetch_state_dict(str(tmp_path / "nope.pth"))
    with pytest.raises(ValueError, match="unknown torchvision weights name 'VGG16_Weights.NOPE'"):
        fetch_state_dict("VGG16_Weights.NOPE")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot load weights from .*bad.pth"):
        fetch_state_dict(str(bad))


def test_url_whose_name_carries_a_hash_is_checked(tmp_path, hub_dir):
    path = tmp_path / "weights-deadbeef.pth"  # torch hub's rule: name-<sha256 prefix>.pth
    torch.save({"a": torch.zeros(1)}, path)
    with pytest.raises(DownloadError, match='invalid hash value \\(expected "deadbeef"'):
        fetch_state_dict(path.as_uri())
