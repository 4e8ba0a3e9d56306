"""tools/convert_weights.py: refuses a partial model and names every key it could not place;
writes one (from a file:// URL) only when asked, in the checkpoint format tools/test.py reads."""

from __future__ import annotations

import importlib.util
import logging
import os

import pytest
import torch
import yaml

from ssd.checkpoint.io import load_checkpoint
from ssd.config import load_config
from ssd.convert import convert_weights
from ssd.convert.convert import _class_names
from ssd.utils.download import DownloadError, cache_path

from .conftest import ROOT, synthetic_state_dict

CONFIG = os.path.join(ROOT, "configs", "converted", "ssdlite320_mnv3_coco_torchvision.yaml")


def _tool():
    path = os.path.join(ROOT, "tools", "convert_weights.py")
    spec = importlib.util.spec_from_file_location("convert_weights_tool", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _damaged_checkpoint(path) -> None:
    state = synthetic_state_dict("torchvision_ssdlite320_mobilenet_v3_large")
    del state["backbone.extra.2.1.0.weight"]
    state["backbone.stray.weight"] = torch.zeros(3)
    torch.save(state, path)


def test_refuses_a_partial_model_and_names_the_keys(tmp_path, caplog):
    source, output = tmp_path / "tv.pth", tmp_path / "out.pth"
    _damaged_checkpoint(source)
    with caplog.at_level(logging.ERROR), torch.device("meta"):  # fails before any tensor is computed
        rc = _tool().main(["--source", "torchvision", "--input", str(source), "--config-file", CONFIG,
                           "--output", str(output)])
    assert rc == 1
    assert not output.exists()
    assert "backbone.stray.weight: no rule maps this key" in caplog.text
    assert "1 model keys were not filled:\n  neck.blocks.2.1.0.weight" in caplog.text
    assert "--allow-partial" in caplog.text


def test_writes_a_partial_model_when_asked_from_a_file_url(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "cache"))
    source, output = tmp_path / "tv.pth", tmp_path / "out.pth"
    _damaged_checkpoint(source)
    rc = _tool().main(["--source", "torchvision", "--input", source.as_uri(), "--config-file", CONFIG,
                       "--output", str(output), "--allow-partial", "TEST.MAX_PER_IMAGE", "50"])
    assert rc == 0
    assert os.path.isfile(cache_path(source.as_uri()))  # the URL went through the cache
    checkpoint = load_checkpoint(str(output))
    assert set(checkpoint) == {"model", "config", "class_names", "label_to_category_id", "converted_from"}
    assert checkpoint["converted_from"] == {"source": "torchvision", "file": source.as_uri()}
    assert len(checkpoint["class_names"]) == 90 and checkpoint["label_to_category_id"][90] == 90
    config = yaml.safe_load(checkpoint["config"])
    assert config["MODEL"]["NUM_CLASSES"] == 91 and config["TEST"]["MAX_PER_IMAGE"] == 50
    state = checkpoint["model"]
    assert torch.equal(state["neck.blocks.0.0.0.weight"],
                       synthetic_state_dict("torchvision_ssdlite320_mobilenet_v3_large")["backbone.extra.0.0.0.weight"])
    assert state["neck.blocks.2.1.0.weight"].shape == (128, 1, 3, 3)  # kept its initial value


def test_offline_message_names_the_option_the_user_gave(tmp_path):
    url = (tmp_path / "absent" / "tv.pth").as_uri()
    with pytest.raises(DownloadError, match="give its local path as --input instead"):
        convert_weights(source="torchvision", weights=url, cfg=load_config(CONFIG))


def test_the_documented_one_item_class_file_list_gives_the_file_names(tmp_path):
    classes = tmp_path / "classes.txt"
    classes.write_text("cat\n# a comment\ndog\n\n")
    cfg = load_config(CONFIG, ["DATASETS.CLASSES", f"['{classes}']"])
    assert _class_names(cfg) == ["cat", "dog"]  # was: one class named after the path
    assert _class_names(load_config(CONFIG, ["DATASETS.CLASSES", "['a', 'b']"])) == ["a", "b"]
    assert _class_names(load_config(CONFIG)) is None
