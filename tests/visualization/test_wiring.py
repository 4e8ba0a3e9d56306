"""The plots are written by training and evaluation themselves (ssd.engine.runner)."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "engine"))
from standins import standin_builders, standin_cfg  # noqa: E402

from ssd.engine import setup_run, train  # noqa: E402


def test_training_with_evaluation_writes_eval_plots_and_training_curves(tmp_path):
    cfg = standin_cfg(tmp_path, test_sets=("standin_test",), MAX_ITER=2, CHECKPOINT_PERIOD=0)
    # a metrics.jsonl line from an earlier run, so the curves have something to show whether or
    # not this trainer writes metrics.jsonl itself
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"iteration": 0, "losses": {"loss": 1.0}, "lr": 0.1}) + "\n")
    train(setup_run(cfg), builders=standin_builders())
    result_dir = tmp_path / "inference" / "standin_test"
    assert {"metrics.json", "pr_curves.png", "confusion_matrix.png", "confusion_matrix.json"} <= set(
        os.listdir(result_dir))
    matrix = json.loads((result_dir / "confusion_matrix.json").read_text())
    assert matrix["score_threshold"] == cfg.TEST.DEMO_SCORE_THRESHOLD
    assert sum(map(sum, matrix["matrix"])) > 0
    assert (tmp_path / "training_curves.png").stat().st_size > 0
