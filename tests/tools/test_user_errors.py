"""Every tool answers a user mistake with one line and exit 1 (issue 20: export, data and
gpu_check printed Python tracebacks)."""

import subprocess
import sys

import pytest

from ssd.tools import data, export, gpu_check


def test_export_of_a_missing_checkpoint_is_one_line(tmp_path, capsys):
    missing = tmp_path / "nothing.pth"
    assert export.main(["--ckpt", str(missing), "--output", str(tmp_path / "m.onnx")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: ") and str(missing) in err


def test_export_of_another_architecture_is_one_line(tmp_path):
    from ..engine.tiny_model import write_tiny_checkpoint

    ckpt = write_tiny_checkpoint(str(tmp_path / "tiny.pth"))
    # a process of its own: the log handlers of earlier in-process tools hold closed capture streams
    out = str(tmp_path / "m.onnx")
    result = subprocess.run([sys.executable, "-m", "ssd", "export", "--ckpt", ckpt, "--output", out,
                             "--config-file", "configs/ssd300_vgg16_voc0712.yaml", "MODEL.BACKBONE.WEIGHTS", ""],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: tiny.pth is a mobilenet_v3_large + ssdlite_extras model")


def test_data_convert_of_a_missing_folder_is_one_line_and_exit_1(tmp_path, capsys):
    assert data.main(["convert", "--from", "yolo", "--images", str(tmp_path / "none"), "--to", "coco",
                      "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(tmp_path / "none") in err and err.count("\n") == 1


def test_gpu_check_refuses_a_folder_as_output(tmp_path):
    with pytest.raises(SystemExit) as refused:
        gpu_check.main(["--output", str(tmp_path), "--dry-run"])
    assert refused.value.code == 2  # argparse's usage error, one line
