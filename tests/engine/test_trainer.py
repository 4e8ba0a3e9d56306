import copy
import os
import re
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from standins import standin_cfg, standin_trainer  # noqa: E402

from ssd.checkpoint.io import load_checkpoint  # noqa: E402
from ssd.engine import HookBase, setup_run, train  # noqa: E402
from ssd.utils.checkpoint import last_checkpoint  # noqa: E402


class Capture(HookBase):
    """Records the state the trainer starts from and the weights after every step."""

    def before_train(self):
        t = self.trainer
        self.start_iter = t.start_iter
        self.lr = t.optimizer.param_groups[0]["lr"]
        self.optimizer = copy.deepcopy(t.optimizer.state_dict())  # state_dict shares the live tensors
        self.scheduler = t.scheduler.state_dict()
        self.weights = []
        self.lrs = []

    def after_step(self):
        self.weights.append(self.trainer.model.conv.weight.detach().clone())
        self.lrs.append(self.trainer.step_info["lr"])


def _train(cfg, **kw):
    return train(setup_run(cfg), **kw)


def test_resume_continues_exactly_where_it_stopped(tmp_path):
    # warmup 2 from factor 0.5, then LR 0.1 until the step at iteration 3 -> 0.01
    full_capture = Capture()
    full = _train(standin_cfg(tmp_path / "full", LR_STEPS=[3]), trainer_class=standin_trainer(),
                  extra_hooks=[full_capture])
    assert full_capture.lrs == pytest.approx([0.05, 0.075, 0.1, 0.01, 0.01, 0.01])

    cfg = standin_cfg(tmp_path / "killed", LR_STEPS=[3])
    with pytest.raises(KeyboardInterrupt):
        _train(cfg, trainer_class=standin_trainer(stop_after=4))  # killed during iteration 5
    path = last_checkpoint(cfg.OUTPUT_DIR)
    assert os.path.basename(path) == "model_0000003.pth"
    saved = load_checkpoint(path)

    capture = Capture()
    resumed = _train(cfg, trainer_class=standin_trainer(), extra_hooks=[capture])
    assert capture.start_iter == 3 == saved["iteration"]
    assert capture.lr == pytest.approx(0.01)
    assert capture.scheduler == saved["scheduler"] and capture.scheduler["last_epoch"] == 3
    momentum = capture.optimizer["state"]
    assert momentum.keys() == saved["optimizer"]["state"].keys() and len(momentum) == 6
    for k in momentum:
        assert torch.equal(momentum[k]["momentum_buffer"], saved["optimizer"]["state"][k]["momentum_buffer"])
    assert capture.lrs == full_capture.lrs[3:]
    for a, b in zip(resumed.model.state_dict().values(), full.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    final = load_checkpoint(last_checkpoint(cfg.OUTPUT_DIR))
    assert final["iteration"] == 6 and final["class_names"] == ["circle", "square"]
    assert "SOLVER:" in final["config"]

    # running the finished command again trains nothing
    again = _train(cfg, trainer_class=standin_trainer())
    assert again.iter == 6


def test_outputs_logs_and_run_records(tmp_path):
    cfg = standin_cfg(tmp_path, MAX_ITER=4, LOG_PERIOD=2, CHECKPOINT_PERIOD=1, KEEP_CHECKPOINTS=2)
    _train(cfg, trainer_class=standin_trainer())
    names = sorted(os.listdir(tmp_path))
    assert [n for n in names if n.startswith("model_")] == ["model_0000003.pth", "model_0000004.pth"]
    assert {"config.yaml", "env.json", "last_checkpoint", "log.txt", "tensorboard"} <= set(names)
    log = (tmp_path / "log.txt").read_text()
    line = [ln for ln in log.splitlines() if "iter: 2/4" in ln][0]
    assert re.search(r"loss_box: [\d.]+ .*loss_cls: [\d.]+ .*lr: 0\.075000 .*time: [\d.]+s .*data: [\d.]+s .*eta: ",
                     line)
    assert "world_size" in (tmp_path / "env.json").read_text()
    assert os.listdir(tmp_path / "tensorboard")


def test_nonfinite_loss_stops_with_the_iteration_and_terms(tmp_path):
    cfg = standin_cfg(tmp_path, MAX_ITER=4)
    with pytest.raises(FloatingPointError) as err:
        _train(cfg, trainer_class=standin_trainer(nan_at_call=2))
    assert re.fullmatch(
        r"non-finite loss at iteration 2: loss_box=nan, loss_cls=\d\.\d+, loss=nan\. Lower SOLVER\.LR, check "
        r"the data, or set SOLVER\.SKIP_NONFINITE True to skip such steps",
        str(err.value),
    )


def test_skip_nonfinite_skips_and_counts(tmp_path):
    cfg = standin_cfg(tmp_path, MAX_ITER=4, SKIP_NONFINITE=True)
    capture = Capture()
    trainer = _train(cfg, trainer_class=standin_trainer(nan_at_call=2), extra_hooks=[capture])
    assert trainer.skipped_steps == 1
    assert torch.equal(capture.weights[0], capture.weights[1])  # step 2 changed nothing
    assert not torch.equal(capture.weights[1], capture.weights[2])
    assert capture.lrs == pytest.approx([0.05, 0.075, 0.1, 0.1])  # the schedule still advanced
    assert load_checkpoint(last_checkpoint(cfg.OUTPUT_DIR))["skipped_steps"] == 1


def test_non_finite_batchnorm_statistics_count_as_a_non_finite_step(tmp_path):
    # issue 20: SGD at LR 1e6 overflowed BatchNorm's running statistics while the loss stayed finite;
    # SKIP_NONFINITE did not skip the step and the run died later with a traceback
    cfg = standin_cfg(tmp_path / "skip", MAX_ITER=4, SKIP_NONFINITE=True)
    capture = Capture()
    trainer = _train(cfg, trainer_class=standin_trainer(with_bn=True, inf_stats_at_call=2), extra_hooks=[capture])
    assert trainer.skipped_steps == 1
    assert torch.equal(capture.weights[0], capture.weights[1])  # step 2 changed nothing
    bn = trainer.model.bn
    assert torch.isfinite(bn.running_var).all() and torch.isfinite(bn.running_mean).all()
    with pytest.raises(FloatingPointError, match=r"^non-finite BatchNorm statistics \(bn.running_var\) at iteration 2"):
        _train(standin_cfg(tmp_path / "stop", MAX_ITER=4),
               trainer_class=standin_trainer(with_bn=True, inf_stats_at_call=2))


def test_extending_max_iter_follows_the_new_schedule(tmp_path):
    import math

    _train(standin_cfg(tmp_path, LR_SCHEDULER="cosine", WARMUP_ITERS=0), trainer_class=standin_trainer())
    capture = Capture()
    _train(standin_cfg(tmp_path, LR_SCHEDULER="cosine", WARMUP_ITERS=0, MAX_ITER=8), trainer_class=standin_trainer(),
           extra_hooks=[capture])
    assert capture.start_iter == 6
    expected = [0.1 * 0.5 * (1 + math.cos(math.pi * it / 8)) for it in (6, 7)]
    assert capture.lrs == pytest.approx(expected)
