import json
import os
import subprocess
import sys

import pytest
import torch

from ssd.checkpoint.io import load_checkpoint
from ssd.utils.checkpoint import last_checkpoint

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ddp_worker.py")


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def test_two_process_torchrun_matches_one_process_at_the_same_global_batch(tmp_path):
    single, double = tmp_path / "single", tmp_path / "double"
    subprocess.run([sys.executable, WORKER, str(single)], check=True, env=_env(), timeout=300,
                   capture_output=True)
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", WORKER, str(double)],
        env=_env(), timeout=300, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    one = json.loads((single / "losses.json").read_text())
    two = json.loads((double / "losses.json").read_text())
    assert (one["world_size"], two["world_size"]) == (1, 2)
    # step 1: same weights, each rank averages its half of the same 4 images
    assert two["losses"][0] == pytest.approx(one["losses"][0], rel=1e-6)
    # later steps agree too: DDP averaged the gradients exactly like the full batch
    assert two["losses"][2] == pytest.approx(one["losses"][2], rel=1e-5)
    a = load_checkpoint(last_checkpoint(str(single)))
    b = load_checkpoint(last_checkpoint(str(double)))
    assert a["iteration"] == b["iteration"] == 3
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=1e-5, atol=1e-6)
    # the final evaluation: each rank ran half of the test set, rank 0 gathered both halves
    metrics = [json.loads((d / "inference" / "standin_test" / "metrics.json").read_text()) for d in (single, double)]
    assert metrics[0] == metrics[1]
    assert metrics[0]["bbox"]["per_class"]["circle"] > 0 and metrics[0]["bbox"]["per_class"]["square"] == 0.0
    detections = json.loads((double / "inference" / "standin_test" / "detections.json").read_text())
    assert sorted(d["image_id"] for d in detections) == list(range(6))
    assert "SOLVER.BATCH_SIZE = 4 in total: 2 images per process x 2 process(es)" in (double / "log.txt").read_text()
