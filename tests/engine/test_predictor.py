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


def test_every_pil_mode_gives_the_pixels_of_the_same_file_by_path(predictor, tmp_path):
    # issue 20: a 16-bit grey image as PIL mode I;16 reached the model all white (PIL clips to 255)
    grey16 = (np.arange(70 * 130).reshape(70, 130) * 7 % 65536).astype(np.uint16)
    rgb = np.random.default_rng(1).integers(0, 255, (70, 130, 3), dtype=np.uint8)
    rgba = np.concatenate([rgb, np.full((70, 130, 1), 9, np.uint8)], axis=2)
    files = {"g16.png": grey16, "rgb.png": rgb[..., ::-1], "rgba.png": rgba[..., [2, 1, 0, 3]],
             "grey.png": rgb[..., 0]}
    for name, pixels in files.items():
        cv2.imwrite(str(tmp_path / name), pixels)
    for name in files:
        path = str(tmp_path / name)
        with Image.open(path) as image:
            by_pil = predictor(image)
        by_path = predictor(path)
        assert np.array_equal(by_pil.image, by_path.image), (name, Image.open(path).mode)
    with Image.open(tmp_path / "g16.png") as image:
        assert image.mode.startswith("I")
        assert np.array_equal(predictor(image).image[..., 1], (grey16 >> 8).astype(np.uint8))
    with pytest.raises(ValueError, match="mode F"):
        predictor(Image.fromarray(np.zeros((4, 4), np.float32)))


def test_exif_orientation_is_honoured_by_path_and_by_pil(predictor, tmp_path):
    # issue 20: a phone photo (EXIF orientation 6: rotate 90 degrees clockwise) was predicted sideways
    stored = np.zeros((40, 80, 3), np.uint8)
    stored[:10, :20] = 255  # top-left block of the stored grid ends top-right after the rotation
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6
    path = str(tmp_path / "phone.jpg")
    image.save(path, exif=exif.tobytes(), quality=100)
    by_path = predictor(path)
    assert (by_path.height, by_path.width) == (80, 40)
    assert by_path.image[:20, -10:].mean() > 200 and by_path.image[:20, :10].mean() < 50
    with Image.open(path) as opened:
        assert np.array_equal(predictor(opened).image, by_path.image)


def test_an_image_without_pixels_is_refused_in_one_line(predictor):
    with pytest.raises(ValueError, match=r"no pixels \(shape \(0, 0, 3\)\)"):
        predictor(np.zeros((0, 0, 3), np.uint8))


def test_from_checkpoint_carries_the_checkpoints_class_layout(tmp_path):
    from ssd.data.class_layout import ClassLayout

    path = write_tiny_checkpoint(str(tmp_path / "model.pth"))
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["label_to_category_id"] = {1: 11, 2: 12, 3: 13, 4: 14}
    torch.save(checkpoint, path)
    predictor = Predictor.from_checkpoint(path, device="cpu")
    assert predictor.class_layout == ClassLayout(CLASS_NAMES, {1: 11, 2: 12, 3: 13, 4: 14})
    assert predictor.class_names == CLASS_NAMES
    with pytest.raises(ValueError, match="pass one of class_names and class_layout"):
        Predictor(backend=predictor.backend, image_size=96)
