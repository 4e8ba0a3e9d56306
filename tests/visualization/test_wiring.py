"""The plots are written by training and evaluation themselves (ssd.engine.runner)."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "engine"))
from standins import standin_cfg, standin_trainer  # noqa: E402

from ssd.engine import setup_run, train  # noqa: E402
from ssd.visualization.plots import read_jsonl, training_series  # noqa: E402


def test_training_with_evaluation_writes_eval_plots_and_training_curves(tmp_path):
    cfg = standin_cfg(tmp_path, test_sets=("standin_test",), MAX_ITER=2, CHECKPOINT_PERIOD=0, EVAL_PERIOD=1)
    train(setup_run(cfg), trainer_class=standin_trainer())
    result_dir = tmp_path / "inference" / "standin_test"
    assert {"metrics.json", "pr_curves.png", "confusion_matrix.png", "confusion_matrix.json"} <= set(
        os.listdir(result_dir))
    matrix = json.loads((result_dir / "confusion_matrix.json").read_text())
    assert matrix["score_threshold"] == cfg.TEST.DEMO_SCORE_THRESHOLD
    assert sum(map(sum, matrix["matrix"])) > 0
    assert (tmp_path / "training_curves.png").stat().st_size > 0
    # drawn from what the run logged: its losses and LR per log period, its primary metric per evaluation
    losses, lr, primary = training_series(read_jsonl(str(tmp_path / "metrics.jsonl")),
                                          read_jsonl(str(tmp_path / "eval_history.jsonl")))
    assert losses and all(its == [1, 2] for its, _ in losses.values()) and lr[0] == [1, 2]
    assert primary["standin_test"][:2] == ("mAP", [1, 2])
