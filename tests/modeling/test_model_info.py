import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_model_info_json_for_the_headline_config():
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "model_info.py"),
         "--config-file", os.path.join(ROOT, "configs", "ssdlite320_mnv3_coco.yaml"), "--json"],
        check=True, capture_output=True, text=True,
    )
    info = json.loads(out.stdout)
    assert info["num_default_boxes"] == 3234
    assert info["feature_maps"] == [[20, 20], [10, 10], [5, 5], [3, 3], [2, 2], [1, 1]]
    assert info["out_channels"] == [672, 480, 512, 256, 256, 128]
    assert info["input_size"] == 320
    assert info["params"] == 3_301_460  # 81 classes; 3,440,060 at torchvision's 91
    assert 1.0 < info["gflops"] < 1.3  # torchvision quotes 0.58 G multiply-adds at 91 classes


def test_model_info_derives_the_class_count_from_the_dataset_when_the_config_says_0(tmp_path, monkeypatch, capsys):
    from dataclasses import replace

    from ssd.data.synthetic import spec_for, write_coco
    from ssd.tools import model_info

    monkeypatch.chdir(tmp_path)  # the quickstart config names datasets/synthetic_quickstart relative to here
    write_coco("datasets/synthetic_quickstart", train=1, test=1, seed=0,
               spec=replace(spec_for("easy"), min_side=64, max_side=80))
    config = os.path.join(ROOT, "configs", "quickstart_ssdlite320_mnv3.yaml")
    assert model_info.main(["--config-file", config, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["num_classes"] == 5  # 4 shapes + background; was 81
    monkeypatch.chdir(ROOT)
    assert model_info.main(["--config-file", config, "--json", "DATASETS.CATALOG.quickstart_train.ANNOTATIONS",
                            str(tmp_path / "absent.json")]) == 0
    assert json.loads(capsys.readouterr().out)["num_classes"] == 81  # not on disk: COCO's count, with a warning
