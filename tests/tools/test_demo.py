"""tools/demo.py from --ckpt alone: folders, globs, videos; unreadable images skipped and counted;
annotated video in a codec browsers play."""

import json
import logging
import os

import av
import cv2
import numpy as np
import pytest

from ssd.tools import demo
from ssd.utils.video import BrowserVideoWriter

from ..engine.tiny_model import CLASS_NAMES, write_tiny_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_tiny_checkpoint(str(tmp_path_factory.mktemp("demo") / "model.pth"))


def _images(folder, names=("a.jpg", "B.PNG", "c.webp")):
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for name in names:
        cv2.imwrite(str(folder / name), rng.integers(0, 255, (90, 120, 3), dtype=np.uint8))
    return folder


def test_folder_from_the_checkpoint_alone_skips_and_counts_unreadable_images(checkpoint, tmp_path, caplog, capsys):
    images = _images(tmp_path / "images")
    whole = (images / "a.jpg").read_bytes()
    (images / "truncated.jpg").write_bytes(whole[: len(whole) // 2])  # cv2.imread half-decodes this
    (images / "notes.txt").write_text("not an image")
    output = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        rc = demo.main(["--ckpt", checkpoint, "--images", str(images), "--output", str(output),
                        "--score-threshold", "0.0"])
    assert rc == 0
    assert sorted(os.listdir(output)) == ["B.PNG", "a.jpg", "c.webp", "detections.json"]
    assert caplog.text.count("skipped") == 1 and "truncated.jpg" in caplog.text
    out = capsys.readouterr().out
    assert "wrote 3 annotated images, 0 video frames and detections.json" in out
    assert out.rstrip().endswith("; skipped 1 unreadable inputs")
    entries = json.loads((output / "detections.json").read_text())
    assert [e["file_name"] for e in entries] == ["B.PNG", "a.jpg", "c.webp"]
    for e in entries:
        assert e["detections"] and (e["height"], e["width"]) == (90, 120)
        for det in e["detections"]:
            assert det["class_name"] == CLASS_NAMES[det["label"] - 1]


def test_the_summary_reports_the_skipped_count(checkpoint, tmp_path, capsys):
    images = _images(tmp_path / "images", names=("a.jpg",))
    (images / "empty.png").write_bytes(b"")
    assert demo.main(["--ckpt", checkpoint, "--images", str(images), "--output", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "wrote 1 annotated images, 0 video frames and detections.json" in out
    assert out.rstrip().endswith("; skipped 1 unreadable inputs")


def test_a_glob_selects_images(checkpoint, tmp_path):
    images = _images(tmp_path / "images")
    output = tmp_path / "out"
    assert demo.main(["--ckpt", checkpoint, "--images", str(images / "*.jpg"), "--output", str(output)]) == 0
    assert sorted(os.listdir(output)) == ["a.jpg", "detections.json"]


def test_sources_are_recognised(tmp_path):
    assert demo.parse_source("0") == [demo.Source(kind="webcam", index=0)]
    assert demo.parse_source("rtsp://cam.local/live") == [demo.Source(kind="stream", url="rtsp://cam.local/live")]
    (tmp_path / "v.mp4").write_bytes(b"")
    assert demo.parse_source(str(tmp_path / "v.mp4")) == [demo.Source(kind="video", paths=(str(tmp_path / "v.mp4"),))]
    with pytest.raises(FileNotFoundError, match="no such file, folder, glob match, webcam index or stream URL"):
        demo.parse_source(str(tmp_path / "nothing"))


def test_video_gives_a_browser_playable_annotated_video(checkpoint, tmp_path):
    source = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (80, 50))
    rng = np.random.default_rng(1)
    for _ in range(6):
        writer.write(rng.integers(0, 255, (50, 80, 3), dtype=np.uint8))
    writer.release()
    output = tmp_path / "out"
    assert demo.main(["--ckpt", checkpoint, "--images", str(source), "--output", str(output),
                      "--max-frames", "5"]) == 0
    with av.open(str(output / "clip_det.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.codec_context.width, stream.codec_context.height) == (80, 50)
        assert sum(1 for _ in container.decode(stream)) == 5
    entries = json.loads((output / "detections.json").read_text())
    assert [e["frame"] for e in entries] == [0, 1, 2, 3, 4] and entries[0]["file_name"] == "clip.avi"


def test_odd_frame_sizes_are_padded_to_even_for_h264(tmp_path):
    frame = np.full((51, 75, 3), 200, np.uint8)
    with BrowserVideoWriter(str(tmp_path / "odd"), fps=29.97) as writer:
        for _ in range(3):
            writer.write(frame)
    assert writer.path == str(tmp_path / "odd.mp4")
    with av.open(writer.path) as container:
        stream = container.streams.video[0]
        decoded = [f.to_ndarray(format="bgr24") for f in container.decode(stream)]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert abs(float(stream.average_rate) - 29.97) < 0.01
    assert len(decoded) == 3 and decoded[0].shape == (52, 76, 3)
    assert np.abs(decoded[0].astype(int) - 200).max() <= 5  # lossy YUV 4:2:0, but the same picture


def test_a_video_without_frames_leaves_no_file(tmp_path):
    writer = BrowserVideoWriter(str(tmp_path / "empty"), fps=25)
    writer.close()
    assert os.listdir(tmp_path) == []


def test_an_output_folder_holding_the_inputs_is_refused_and_the_originals_kept(checkpoint, tmp_path, capsys):
    # issue 20: --output equal to --images overwrote the user's originals with annotated copies (rc 0)
    images = _images(tmp_path / "images", names=("a.jpg",))
    original = (images / "a.jpg").read_bytes()
    for output in (images, tmp_path):  # the input folder itself, and a folder above it
        assert demo.main(["--ckpt", checkpoint, "--images", str(images), "--output", str(output)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: --output {output} holds the input image {images / 'a.jpg'}")
        assert err.count("\n") == 1
    assert (images / "a.jpg").read_bytes() == original and sorted(os.listdir(images)) == ["a.jpg"]


def test_a_glob_over_folders_keeps_relative_paths_so_names_cannot_collide(checkpoint, tmp_path, capsys):
    # issue 20: 'root/*/same.jpg' over a/same.jpg and b/same.jpg said "wrote 2" and wrote one
    (tmp_path / "root").mkdir()
    _images(tmp_path / "root" / "a", names=("same.jpg",))
    _images(tmp_path / "root" / "b", names=("same.jpg",))
    output = tmp_path / "out"
    assert demo.main(["--ckpt", checkpoint, "--images", str(tmp_path / "root" / "*" / "same.jpg"),
                      "--output", str(output)]) == 0
    assert "wrote 2 annotated images" in capsys.readouterr().out
    assert sorted(os.listdir(output)) == ["a", "b", "detections.json"]
    assert os.listdir(output / "a") == ["same.jpg"] and os.listdir(output / "b") == ["same.jpg"]
    entries = json.loads((output / "detections.json").read_text())
    assert [e["file_name"] for e in entries] == [os.path.join("a", "same.jpg"), os.path.join("b", "same.jpg")]


def test_a_folder_without_images_is_refused(checkpoint, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert demo.main(["--ckpt", checkpoint, "--images", str(tmp_path / "empty"), "--output", str(tmp_path / "o")]) == 1
    assert f"--images {tmp_path / 'empty'}: no images" in capsys.readouterr().err
