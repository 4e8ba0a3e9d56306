"""``ssd test`` and ``ssd demo`` choose their ``--backend`` through one function,
:func:`ssd.export.backends.inference_backend`: the same choices and the same one-line errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ssd.export.backends import BACKENDS
from ssd.tools import demo
from ssd.tools import test as test_tool

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
NO_ONNX = "error: backend 'onnxruntime' needs an ONNX file (--onnx FILE, written by tools/export.py)"


@pytest.mark.parametrize("tool", [demo, test_tool])
def test_an_unknown_backend_lists_the_factorys_choices(tool, capsys):
    with pytest.raises(SystemExit) as exit_:
        tool.main(["--backend", "tensorrt", "--images", "x", "--config-file", "x"])
    assert exit_.value.code == 2
    choices = ", ".join(repr(b) for b in BACKENDS)
    assert f"argument --backend: invalid choice: 'tensorrt' (choose from {choices})" in capsys.readouterr().err


def test_demo_without_an_onnx_file_says_what_the_backend_needs(tmp_path, capsys):
    (tmp_path / "images").mkdir()  # a folder with an image: the demo refuses an empty one first
    cv2.imwrite(str(tmp_path / "images" / "a.jpg"), np.zeros((8, 8, 3), np.uint8))
    assert demo.main(["--backend", "onnxruntime", "--images", str(tmp_path / "images"),
                      "--output", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.startswith(NO_ONNX)


def test_test_without_an_onnx_file_says_what_the_backend_needs(tmp_path, capsys):
    args = ["--config-file", str(CONFIGS / "ssdlite320_mnv3_coco.yaml"), "--backend", "onnxruntime",
            "OUTPUT_DIR", str(tmp_path), "MODEL.DEVICE", "cpu"]
    assert test_tool.main(args) == 1
    assert capsys.readouterr().err.startswith(NO_ONNX)


def test_test_refuses_an_onnx_file_exported_for_another_resize(tmp_path, capsys, monkeypatch):
    """The loader resizes by INPUT.RESIZE_MODE; a file exported for tf_bilinear would get other pixels."""
    import ssd.export.backends

    class Exported:  # what OnnxRuntimeDetector says of a file exported with INPUT.RESIZE_MODE tf_bilinear
        resize_mode, class_names, label_to_category_id = "tf_bilinear", ["a"], None

    monkeypatch.setattr(ssd.export.backends, "inference_backend", lambda name, onnx: Exported())
    args = ["--config-file", str(CONFIGS / "ssdlite320_mnv3_coco.yaml"), "--backend", "onnxruntime",
            "--onnx", "m.onnx", "OUTPUT_DIR", str(tmp_path), "MODEL.DEVICE", "cpu"]
    assert test_tool.main(args) == 1
    assert ("m.onnx was exported for INPUT.RESIZE_MODE 'tf_bilinear', the config says 'opencv': "
            "pass INPUT.RESIZE_MODE tf_bilinear") in capsys.readouterr().err
