"""The commands of the getting-started page and of the fine-tuning tutorial run as written, at toy
size (tests/docs/docs_blocks.py says what is made smaller), extracted from the pages themselves."""

import json
import os
import shutil

import cv2

from ..engine.tiny_model import write_tiny_checkpoint
from .docs_blocks import ROOT, TOY_OVERRIDES, marked_blocks, run_shell, toy_args, toy_steps


def _workspace(tmp_path, monkeypatch):
    """A copy of what a checkout has that the pages use (configs, demo images), as the working directory."""
    shutil.copytree(os.path.join(ROOT, "configs"), tmp_path / "configs")
    os.makedirs(tmp_path / "demo")
    for name in sorted(os.listdir(os.path.join(ROOT, "demo")))[:2]:
        if name.endswith(".jpg"):
            shutil.copy(os.path.join(ROOT, "demo", name), tmp_path / "demo" / name)
    monkeypatch.chdir(tmp_path)


def _run(blocks, tmp_path) -> list[str]:
    ran = []
    for lang, code in blocks:
        if lang == "bash":
            ran += run_shell(code, str(tmp_path))
        else:
            namespace: dict = {}
            exec(code, namespace)  # noqa: S102 - the page's own lines
            ran.append(("python", namespace))
    return ran


def test_toy_rewriting_keeps_the_command_and_leaves_heredocs_alone():
    steps = toy_steps("ssd synthetic --out d --train 1000 --test 200\ncat > a.yaml <<'EOF'\n"
                      "ssd train is not a command here\nEOF\nssd train --config-file a.yaml\n")
    assert steps == [("ssd", ["synthetic", "--out", "d", "--train", "6", "--test", "3"]),
                     ("bash", "cat > a.yaml <<'EOF'\nssd train is not a command here\nEOF\n"),
                     ("ssd", ["train", "--config-file", "a.yaml", *TOY_OVERRIDES.split()])]
    assert toy_args("ssd test --ckpt 'a b.pth'")[:3] == ["test", "--ckpt", "a b.pth"]


def test_getting_started_runs_as_written(tmp_path, monkeypatch):
    blocks = marked_blocks("getting-started.md", "getting-started")
    assert [lang for lang, _ in blocks] == ["bash", "python"]  # the `ssd` command block: test_readme_usage.py
    _workspace(tmp_path, monkeypatch)
    ran = _run(blocks, tmp_path)
    assert ran[:4] == ["synthetic", "train", "test", "demo"] and ran[4][0] == "python"
    result = ran[4][1]["result"]  # the three-line predictor on demo/demo_000.jpg, in original pixels
    assert (result.height, result.width) == cv2.imread("demo/demo_000.jpg").shape[:2]
    assert result.class_names == ["circle", "square", "triangle", "star"]
    # the files the page says the commands write
    run = tmp_path / "outputs" / "quickstart"
    for name in ("config.yaml", "log.txt", "metrics.jsonl", "model_best.pth", "best.json", "summary.json",
                 "last_checkpoint", "model_0000002.pth", "inference/quickstart_test/metrics.json",
                 "inference/quickstart_test/detections.json"):
        assert (run / name).is_file(), name
    assert sorted(os.listdir(tmp_path / "demo" / "output")) == ["demo_000.jpg", "demo_001.jpg", "detections.json"]
    assert json.loads((run / "best.json").read_text())["iteration"] == 2


def test_fine_tuning_tutorial_runs_as_written(tmp_path, monkeypatch):
    blocks = marked_blocks("fine-tuning.md", "fine-tuning")
    assert [lang for lang, _ in blocks] == ["bash"] * 5 + ["python"]
    _workspace(tmp_path, monkeypatch)
    # the trained detector the tutorial starts from: a stand-in for the quickstart's model, four shapes
    write_tiny_checkpoint("outputs/quickstart/model_best.pth",
                          config=os.path.join("configs", "quickstart_ssdlite300_mnv2_tf.yaml"))
    ran = _run(blocks, tmp_path)
    assert ran[:6] == ["synthetic", "train", "test", "demo", "export", "test"]
    run = tmp_path / "outputs" / "my_shapes"
    assert (run / "model.onnx").is_file() and (run / "inference" / "my_val" / "metrics.json").is_file()
    assert (run / "onnx" / "inference" / "my_val" / "metrics.json").is_file()
    import torch

    state = torch.load(run / "model_best.pth", map_location="cpu", weights_only=True)
    assert state["class_names"] == ["ball", "crate", "triangle", "star"]
