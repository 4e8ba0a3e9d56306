"""The loss normalises by the positives of the *global* batch, so 2 DDP processes equal 1 process."""

import os
import subprocess
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ddp_loss_worker  # noqa: E402

WORKER = ddp_loss_worker.__file__


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    double = tmp_path_factory.mktemp("double")
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", WORKER, str(double)],
        env=_env(), timeout=300, capture_output=True, text=True,
    )
    assert two.returncode == 0, two.stdout[-3000:] + two.stderr[-3000:]
    # the single process runs here, as the worker would without torchrun
    one = ddp_loss_worker.run_all(rank=0, world_size=1)
    return one, torch.load(double / "result.pt")


@pytest.mark.parametrize("loss", ["multibox", "focal"])
def test_two_processes_equal_one_process_at_the_same_total_batch(runs, loss):
    one, two = runs
    assert (one["world_size"], two["world_size"]) == (1, 2)
    a, b = one[loss], two[loss]
    # the test means something only if the ranks hold different numbers of positives
    assert all(len(set(p)) == 2 for p in b["positives"]), b["positives"]
    assert [sum(p) for p in b["positives"]] == [p[0] for p in a["positives"]]
    for step_a, step_b in zip(a["losses"], b["losses"], strict=True):
        assert step_b == pytest.approx(step_a, rel=1e-5, abs=1e-6)
    assert a["weights"].keys() == b["weights"].keys()
    for k in a["weights"]:
        torch.testing.assert_close(b["weights"][k], a["weights"][k], rtol=1e-5, atol=1e-5, msg=k)
