"""docs/getting-started.md "Use a trained model" (the three-line predictor, which README.md shows too, and the
ssd commands) runs exactly as written."""

import os
import re
import shlex
from dataclasses import replace

import cv2
import numpy as np

from ssd import cli
from ssd.data.synthetic import spec_for, write_coco
from ssd.engine.predictor import Detections

from ..engine.tiny_model import ROOT, write_tiny_checkpoint


def _section(path: str = os.path.join("docs", "getting-started.md")) -> str:
    text = open(os.path.join(ROOT, path), encoding="utf-8").read()
    start = text.index("## Use a trained model\n")
    return text[start:text.index("\n## ", start + 1)]


def test_the_readme_shows_the_predictor_lines_of_the_docs():
    lines = [re.search(r"```python\n(.*?)```", _section(path), re.S).group(1) for path in ("README.md",
                                                                                          "docs/getting-started.md")]
    assert lines[0] == lines[1] and "model_best.pth" in lines[0]


def test_the_readme_lines_run_as_written(tmp_path, monkeypatch):
    section = _section()
    python = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    commands = [line for line in re.search(r"```bash\n(.*?)```", section, re.S).group(1).splitlines()
                if line.startswith("ssd ")]
    assert len(python.strip().splitlines()) == 3 and [c.split()[1] for c in commands] == ["demo", "test", "eval"]

    # the layout `make quickstart` leaves: its dataset, its checkpoint (a tiny stand-in), demo images
    monkeypatch.chdir(tmp_path)
    os.symlink(os.path.join(ROOT, "configs"), "configs")
    write_coco("datasets/synthetic_quickstart", train=0, test=3, seed=2,
               spec=replace(spec_for("easy"), min_side=90, max_side=120))
    write_tiny_checkpoint("outputs/quickstart/model_best.pth", config="configs/quickstart_ssdlite320_mnv3.yaml",
                          opts=["DATALOADER.NUM_WORKERS", "0"])
    os.makedirs("demo")
    rng = np.random.default_rng(0)
    for k in range(2):
        cv2.imwrite(f"demo/demo_{k:03d}.jpg", rng.integers(0, 255, (80, 100, 3), dtype=np.uint8))

    namespace: dict = {}
    exec(python, namespace)  # noqa: S102 - the page's own lines
    result = namespace["result"]
    assert isinstance(result, Detections) and (result.height, result.width) == (80, 100)

    for command in commands:
        assert cli.main(shlex.split(command)[1:]) == 0, command
    assert sorted(os.listdir("demo/output")) == ["demo_000.jpg", "demo_001.jpg", "detections.json"]
    # ssd test writes into a folder of its own, not into the training run's (issue 20)
    assert os.path.isfile("outputs/test/quickstart_model_best/inference/quickstart_test/metrics.json")
    assert not os.path.exists("outputs/quickstart/inference")
