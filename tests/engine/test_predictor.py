"""Predictor: from a checkpoint alone, every input kind gives the same detections, in original pixels."""

import json

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from ssd.engine.inference import rescale_boxes
from ssd.engine.predictor import Detections, Predictor

from .tiny_model import CLASS_NAMES, write_tiny_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_tiny_checkpoint(str(tmp_path_factory.mktemp("predictor") / "model.pth"))


@pytest.fixture(scope="module")
def predictor(checkpoint):
    return Predictor.from_checkpoint(checkpoint, device="cpu", score_threshold=0.0)


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    rgb = np.random.default_rng(0).integers(0, 255, (70, 130, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("img") / "a.png"
    cv2.imwrite(str(path), rgb[..., ::-1])
    return str(path), rgb


def test_from_checkpoint_builds_the_stored_model(predictor, checkpoint):
    assert predictor.class_names == CLASS_NAMES and predictor.image_size == 96
    assert predictor.device == torch.device("cpu") and not predictor.backend.training
    # an override of the caller wins over device=; the stored config's size can be overridden too
    other = Predictor.from_checkpoint(checkpoint, device="cuda:7",
                                      opts=["MODEL.DEVICE", "cpu", "INPUT.IMAGE_SIZE", "64"])
    assert other.device == torch.device("cpu") and other.image_size == 64


def test_detections_equal_the_model_on_the_test_resize_in_original_pixels(predictor, image_file):
    path, rgb = image_file
    result = predictor(path)
    resized = torch.from_numpy(cv2.resize(rgb, (96, 96), interpolation=cv2.INTER_LINEAR)).permute(2, 0, 1)
    with torch.no_grad():
        out = predictor.backend(resized[None])[0]
    expected = rescale_boxes(out["boxes"], input_size=96, height=70, width=130).numpy()
    assert isinstance(result, Detections) and len(result) == len(out["scores"]) > 0
    np.testing.assert_allclose(result.boxes, expected, rtol=0, atol=1e-4)
    np.testing.assert_array_equal(result.labels, out["labels"].numpy())
    assert (result.height, result.width, result.source) == (70, 130, path)
    assert result.names == [CLASS_NAMES[int(i) - 1] for i in out["labels"]]
    assert result.boxes[:, 0::2].max() <= 130 and result.boxes[:, 1::2].max() <= 70


def test_every_input_kind_gives_the_same_detections(predictor, image_file):
    path, rgb = image_file
    reference = predictor(path)
    for image, channels in ((rgb[..., ::-1].copy(), "bgr"), (rgb, "rgb"), (Image.fromarray(rgb), "bgr")):
        got = predictor(image, channels=channels)
        np.testing.assert_array_equal(got.boxes, reference.boxes)
        np.testing.assert_array_equal(got.scores, reference.scores)
    batch = predictor([path, rgb[..., ::-1].copy(), np.zeros((40, 50), np.uint8)])
    assert len(batch) == 3 and [b.source for b in batch] == [path, None, None]
    np.testing.assert_allclose(batch[1].boxes, reference.boxes, atol=1e-4)
    assert batch[2].image.shape == (40, 50, 3)


def test_score_threshold_and_json(checkpoint, image_file):
    path, _ = image_file
    everything = Predictor.from_checkpoint(checkpoint, device="cpu", score_threshold=0.0)(path)
    cut = float(np.median(everything.scores))
    kept = Predictor.from_checkpoint(checkpoint, device="cpu", score_threshold=cut)(path)
    assert len(kept) == int((everything.scores >= cut).sum())
    entry = json.loads(kept.to_json())
    assert entry["file_name"] == "a.png" and (entry["height"], entry["width"]) == (70, 130)
    assert [d["class_name"] for d in entry["detections"]] == kept.names
    plotted = kept.plot()
    assert plotted.shape == (70, 130, 3) and plotted.dtype == np.uint8
    np.testing.assert_array_equal(kept.plot(channels="rgb"), plotted[..., ::-1])


def test_a_second_backend_with_the_model_contract_plugs_in(checkpoint, image_file):
    path, _ = image_file
    calls = []

    def backend(images):
        calls.append((images.dtype, tuple(images.shape)))
        return [{"boxes": torch.tensor([[0.0, 0.0, 48.0, 96.0]]), "scores": torch.tensor([0.9]),
                 "labels": torch.tensor([2])} for _ in range(len(images))]

    result = Predictor.from_checkpoint(checkpoint, device="cpu", backend=backend)(path)
    assert calls == [(torch.uint8, (1, 3, 96, 96))]
    np.testing.assert_allclose(result.boxes, [[0, 0, 130 / 2, 70]])
    assert result.names == ["square"]


def test_bad_inputs_are_clear(predictor, tmp_path):
    with pytest.raises(ValueError, match="expected a uint8 image"):
        predictor(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="channels = 'hsv'"):
        predictor(np.zeros((4, 4, 3), np.uint8), channels="hsv")
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(OSError, match="broken.jpg"):
        predictor(str(bad))
    bare = tmp_path / "bare.pth"
    torch.save({"model": {"w": torch.zeros(1)}}, bare)
    with pytest.raises(ValueError, match="bare.pth stores no config"):
        Predictor.from_checkpoint(str(bare))
