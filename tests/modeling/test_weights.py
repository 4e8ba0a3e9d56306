import logging
import pathlib

import pytest
import torch
from torchvision.models import mobilenet_v3_large, mobilenet_v3_small, vgg16

from ssd.modeling.backbone.mobilenet_v3 import MobileNetV3Backbone
from ssd.modeling.backbone.vgg import VGG16Backbone, subsample_fc
from ssd.modeling.weights import fetch_state_dict, load_backbone_weights
from ssd.utils.download import DownloadError

FC = ["fc6.weight", "fc6.bias", "fc7.weight", "fc7.bias"]


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """A private torch hub cache through TORCH_HOME (torch.hub.set_dir would pin it for every later test)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub"


@pytest.fixture(scope="module")
def vgg16_classifier_file(tmp_path_factory):
    """A randomly initialised torchvision VGG16 classifier (the layout of VGG16_Weights.IMAGENET1K_V1)
    saved to a local file; removed after the module (it is 528 MB)."""
    torch.manual_seed(0)
    classifier = vgg16(weights=None)
    with torch.no_grad():  # torchvision zeroes Linear biases: make them tell their indices apart
        for i in (0, 3):
            classifier.classifier[i].bias.normal_()
    path = tmp_path_factory.mktemp("vgg16") / "vgg16-classifier.pth"
    torch.save(classifier.state_dict(), path)
    yield path, classifier
    path.unlink()


def test_vgg16_classifier_fc6_fc7_are_subsampled_as_the_paper_says(vgg16_classifier_file, caplog):
    path, classifier = vgg16_classifier_file
    backbone = VGG16Backbone()
    with caplog.at_level(logging.INFO):
        report = load_backbone_weights(backbone, str(path))
    fc6_w, fc6_b = classifier.classifier[0].weight, classifier.classifier[0].bias  # [4096, 25088]
    fc7_w, fc7_b = classifier.classifier[3].weight, classifier.classifier[3].bias  # [4096, 4096]
    # by hand: output channel o of fc6 is row 4 o; input (c, y, x) of the 3x3 kernel is column
    # c * 49 + 3y * 7 + 3x of the 7x7 x 512 flattening
    assert backbone.fc6.weight.shape == (1024, 512, 3, 3)
    assert backbone.fc6.weight[1, 5, 2, 1] == fc6_w[4, 5 * 49 + 6 * 7 + 3]
    assert backbone.fc6.weight[1023, 511, 0, 2] == fc6_w[4092, 511 * 49 + 0 * 7 + 6]
    rows, taps = torch.arange(0, 4096, 4), torch.tensor([0, 3, 6])
    cols = (torch.arange(512).view(-1, 1, 1) * 49 + taps.view(1, -1, 1) * 7 + taps.view(1, 1, -1)).flatten()
    torch.testing.assert_close(backbone.fc6.weight, fc6_w[rows][:, cols].view(1024, 512, 3, 3), rtol=0, atol=0)
    torch.testing.assert_close(backbone.fc6.bias, fc6_b[rows], rtol=0, atol=0)
    assert backbone.fc6.bias[2] == fc6_b[8]
    # fc7: every 4th row and column, as a 1x1 conv
    assert backbone.fc7.weight.shape == (1024, 1024, 1, 1)
    assert backbone.fc7.weight[3, 7, 0, 0] == fc7_w[12, 28]
    torch.testing.assert_close(backbone.fc7.weight[:, :, 0, 0], fc7_w[rows][:, rows], rtol=0, atol=0)
    torch.testing.assert_close(backbone.fc7.bias, fc7_b[rows], rtol=0, atol=0)
    # the convs as they are; only SSD's own L2Norm scale is not from the file
    torch.testing.assert_close(backbone.features[28].weight, classifier.features[28].weight, rtol=0, atol=0)
    assert report.uninitialised == [] and report.new_layers == ["l2_norm.weight"]
    assert len(report.initialised) == 30  # 13 convs + fc6 + fc7, weight and bias each
    assert torch.all(backbone.l2_norm.weight == 20.0)
    assert "initialised 30/31 backbone tensors" in caplog.text


def test_subsample_fc_rejects_other_shapes():
    with pytest.raises(ValueError, match=r"fc6 \(4096, 25088\).*got \(10, 25088\)"):
        subsample_fc(torch.zeros(10, 25088), torch.zeros(10), torch.zeros(4096, 4096), torch.zeros(4096))


def test_reduced_fc_file_by_file_url_initialises_everything(tmp_path, hub_dir, standin_weights):
    from ssd.modeling.backbone.vgg import REDUCED_FC_URL

    _, state = standin_weights(REDUCED_FC_URL)
    path = tmp_path / "vgg16_reducedfc.pth"
    torch.save(state, path)
    backbone = VGG16Backbone()
    report = load_backbone_weights(backbone, pathlib.Path(path).as_uri())
    assert any(hub_dir.rglob("vgg16_reducedfc.pth"))
    assert report.uninitialised == [] and report.unexpected == []
    torch.testing.assert_close(backbone.fc6.weight, state["31.weight"], rtol=0, atol=0)
    torch.testing.assert_close(backbone.fc7.bias, state["33.bias"], rtol=0, atol=0)
    torch.testing.assert_close(backbone.features[0].weight, state["0.weight"], rtol=0, atol=0)


def test_weights_without_fc6_fc7_fail_loudly_unless_allowed(tmp_path, standin_weights, caplog):
    from ssd.modeling.backbone.vgg import REDUCED_FC_URL

    # torchvision's IMAGENET1K_FEATURES is this: VGG16 features, no usable classifier
    _, state = standin_weights(REDUCED_FC_URL)
    path = tmp_path / "features.pth"
    torch.save({f"features.{k}": v for k, v in state.items() if int(k.split(".")[0]) < 30}, path)
    with pytest.raises(ValueError, match=r"leave 4 of 31 VGG16Backbone tensors uninitialised .*fc6\.bias.*"
                                         r"ALLOW_PARTIAL_WEIGHTS"):
        load_backbone_weights(VGG16Backbone(), str(path))
    with caplog.at_level(logging.WARNING):
        report = load_backbone_weights(VGG16Backbone(), str(path), allow_partial=True)
    assert report.uninitialised == FC
    assert "ALLOW_PARTIAL_WEIGHTS: allowed" in caplog.text


def test_non_finite_tensors_are_not_loaded(tmp_path):
    state = mobilenet_v3_small(weights=None).state_dict()
    state["features.3.block.0.0.weight"][0, 0, 0, 0] = float("nan")
    path = tmp_path / "nan.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"non-finite in the file \['features\.3\.block\.0\.0\.weight'\]"):
        load_backbone_weights(MobileNetV3Backbone(arch="small"), str(path))


def test_mobilenet_v3_full_tail_weights_do_not_fit_a_reduced_tail(tmp_path):
    torch.manual_seed(0)
    classifier = mobilenet_v3_large(weights=None)  # full tail: 960 channels
    path = tmp_path / "mnv3.pth"
    torch.save({"model": classifier.state_dict()}, path)  # wrapped like a training checkpoint
    with pytest.raises(ValueError, match=r"shape mismatches \[.*'features\.16\.0\.weight'"):
        load_backbone_weights(MobileNetV3Backbone(reduced_tail=True), str(path))
    backbone = MobileNetV3Backbone(reduced_tail=False)
    report = load_backbone_weights(backbone, str(path))
    assert report.uninitialised == []
    torch.testing.assert_close(backbone.features[16][0].weight, classifier.features[16][0].weight, rtol=0, atol=0)


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
