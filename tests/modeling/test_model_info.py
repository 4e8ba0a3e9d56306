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
