"""EMA weights in training, the best checkpoint, the end-of-run summary and evaluation progress."""

import json
import logging
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from standins import SchemaEvaluate, standin_cfg, standin_trainer  # noqa: E402

from ssd.checkpoint.io import load_checkpoint, model_state  # noqa: E402
from ssd.engine import setup_run, train  # noqa: E402
from ssd.utils.checkpoint import last_checkpoint  # noqa: E402


def _train(cfg, **kw):
    return train(setup_run(cfg), **kw)


def test_ema_is_checkpointed_evaluated_and_resumes_bit_exactly(tmp_path):
    full_eval = SchemaEvaluate([0.1] * 2)
    full = _train(standin_cfg(tmp_path / "full", test_sets=("t",), EMA_DECAY=0.9, EMA_WARMUP=2, EVAL_PERIOD=3),
                  trainer_class=standin_trainer(evaluate=full_eval))
    cfg = standin_cfg(tmp_path / "killed", test_sets=("t",), EMA_DECAY=0.9, EMA_WARMUP=2, EVAL_PERIOD=3)
    with pytest.raises(KeyboardInterrupt):
        _train(cfg, trainer_class=standin_trainer(stop_after=4, evaluate=SchemaEvaluate([0.1])))
    resumed = _train(cfg, trainer_class=standin_trainer(evaluate=SchemaEvaluate([0.1])))
    a, b = load_checkpoint(last_checkpoint(str(tmp_path / "full"))), load_checkpoint(last_checkpoint(cfg.OUTPUT_DIR))
    assert a["ema_updates"] == b["ema_updates"] == 6
    for key in ("model", "model_ema"):
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), (key, name)
    assert not torch.equal(a["model_ema"]["conv.weight"], a["model"]["conv.weight"])
    inference = model_state(a, source="a")  # what inference loads: the EMA weights
    assert inference.keys() == a["model_ema"].keys()
    assert all(torch.equal(inference[k], a["model_ema"][k]) for k in inference)
    # evaluation got the EMA module, not the trained one, holding the EMA weights of that moment
    step, model, weights = full_eval.calls[-1]
    assert step == 6 and model is full.ema.module
    assert torch.equal(weights["conv.weight"], a["model_ema"]["conv.weight"])
    assert resumed.ema.updates == 6


def test_best_checkpoint_json_and_summary(tmp_path):
    evaluate = SchemaEvaluate([0.3, 0.5, 0.4])
    cfg = standin_cfg(tmp_path, test_sets=("standin_test",), MAX_ITER=6, EVAL_PERIOD=2, CHECKPOINT_PERIOD=1,
                      KEEP_CHECKPOINTS=1, EMA_DECAY=0.5, EMA_WARMUP=0)
    _train(cfg, trainer_class=standin_trainer(evaluate=evaluate))
    names = sorted(os.listdir(tmp_path))
    assert [n for n in names if n.startswith("model_")] == ["model_0000006.pth", "model_best.pth"]
    best = json.loads((tmp_path / "best.json").read_text())
    assert (best["iteration"], best["dataset"], best["metric"], best["value"]) == (4, "standin_test", "AP", 0.5)
    assert best["result"]["bbox"]["metrics"] == {"AP": 0.5, "AP50": 1.0}
    best_ckpt = load_checkpoint(str(tmp_path / "model_best.pth"))
    assert best_ckpt["iteration"] == 4 and "optimizer" not in best_ckpt
    _, _, weights_at_4 = evaluate.calls[1]
    assert torch.equal(model_state(best_ckpt, source="best")["conv.weight"], weights_at_4["conv.weight"])

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["iterations"] == {"start": 0, "end": 6, "max_iter": 6}
    assert summary["final"] == {"iteration": 6, "dataset": "standin_test", "metric": "AP", "value": 0.4,
                                "per_class": {"circle": 0.4, "square": 0.2}}
    assert summary["best"] == {"iteration": 4, "dataset": "standin_test", "metric": "AP", "value": 0.5}
    final, best_path = str(tmp_path / "model_0000006.pth"), str(tmp_path / "model_best.pth")
    assert summary["weights"] == {"final": final, "best": best_path, "ema": final, "inference_uses": "model_ema"}
    assert summary["commands"]["evaluate"] == (f"python tools/test.py --config-file {tmp_path}/config.yaml "
                                               f"--ckpt {tmp_path}/model_best.pth")
    assert summary["commands"]["demo"].startswith(f"python tools/demo.py --config-file {tmp_path}/config.yaml "
                                                  f"--ckpt {tmp_path}/model_best.pth --images demo")
    assert summary["wall_time_s"] >= 0
    log = (tmp_path / "log.txt").read_text()
    assert "  final: AP = 0.4000 on standin_test at iteration 6" in log
    assert "  best:  AP = 0.5000 on standin_test at iteration 4" in log
    assert "    square  0.2000" in log

    # a resumed, longer run only replaces the best when it beats 0.5
    longer = SchemaEvaluate([0.45])
    _train(standin_cfg(tmp_path, test_sets=("standin_test",), MAX_ITER=8, EVAL_PERIOD=0, CHECKPOINT_PERIOD=1,
                       KEEP_CHECKPOINTS=1, EMA_DECAY=0.5, EMA_WARMUP=0), trainer_class=standin_trainer(evaluate=longer))
    assert json.loads((tmp_path / "best.json").read_text())["iteration"] == 4
    assert os.path.isfile(tmp_path / "model_best.pth")


def test_evaluation_without_a_terminal_logs_progress_lines(caplog):
    from ssd.engine.progress import LoggedProgress

    caplog.set_level(logging.INFO, logger="ssd.engine.progress")
    wrapped = LoggedProgress([1, 2, 3], desc="evaluating on t", period_s=0.0)
    assert list(wrapped) == [1, 2, 3] and len(wrapped) == 3
    lines = [r.getMessage() for r in caplog.records]
    # one line per count: the last batch's line is not repeated at the end (issue 20: "2/2 batches" twice)
    assert len(lines) == 3 and lines[-1].startswith("evaluating on t: 3/3 batches, ")
    assert not lines[1].startswith("evaluating on t: 3/3")
    assert lines[0].startswith("evaluating on t: 1/3 batches, ") and ", eta " in lines[0]


def test_bf16_on_cpu_follows_the_cpu_and_channels_last_auto(monkeypatch, caplog):
    import ssd.engine.precision as precision

    cpu = torch.device("cpu")
    caplog.set_level(logging.INFO, logger="ssd.engine.precision")
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: False)
    assert precision.resolve_amp("bf16", cpu) is None
    assert "this CPU has no native bf16 (no avx512_bf16 / amx_bf16); training in float32" in caplog.text
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: True)
    assert precision.resolve_amp("bf16", cpu) is torch.bfloat16
    assert precision.resolve_amp("fp16", cpu) is None and precision.resolve_amp("off", cpu) is None
    assert precision.resolve_channels_last("auto", device=cpu, amp_dtype=None)
    assert not precision.resolve_channels_last("auto", device=torch.device("cuda"), amp_dtype=None)
    assert precision.resolve_channels_last("auto", device=torch.device("cuda"), amp_dtype=torch.float16)
    assert not precision.resolve_channels_last("off", device=cpu, amp_dtype=None)


@pytest.mark.skipif(not __import__("ssd.engine.precision", fromlist=["x"]).cpu_supports_bf16(),
                    reason="this CPU has no native bf16")
def test_a_bf16_channels_last_run_trains_on_this_cpu(tmp_path):
    cfg = standin_cfg(tmp_path, MAX_ITER=2, AMP="bf16", CHANNELS_LAST="on")
    trainer = _train(cfg, trainer_class=standin_trainer(with_bn=True))
    assert trainer.amp_dtype is torch.bfloat16 and trainer.channels_last
    assert trainer.model.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert trainer.model.conv.weight.dtype is torch.float32  # autocast: the weights stay float32


def test_a_rerun_after_a_failed_final_evaluation_evaluates_and_writes_the_best_and_the_summary(tmp_path):
    """Issue 20 item 9: the rerun said "nothing to train" and never wrote model_best.pth / summary.json."""

    class Failing:
        def __call__(self, *a, **kw):
            raise OSError("corrupt test image")

    cfg = standin_cfg(tmp_path, MAX_ITER=4, CHECKPOINT_PERIOD=2, test_sets=("standin_test",))
    with pytest.raises(OSError, match="corrupt test image"):
        _train(cfg, trainer_class=standin_trainer(evaluate=Failing()))
    assert load_checkpoint(last_checkpoint(str(tmp_path)))["iteration"] == 4
    assert not (tmp_path / "summary.json").exists() and not (tmp_path / "model_best.pth").exists()
    evaluate = SchemaEvaluate([0.25])
    trainer = _train(cfg, trainer_class=standin_trainer(evaluate=evaluate))
    assert [step for step, _, _ in evaluate.calls] == [4] and trainer.iter == 4
    assert json.loads((tmp_path / "best.json").read_text())["iteration"] == 4
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["weights"]["final"] == str(tmp_path / "model_0000004.pth")
    history = [json.loads(ln) for ln in (tmp_path / "eval_history.jsonl").read_text().splitlines()]
    assert [h["iteration"] for h in history] == [4]
    again = SchemaEvaluate([0.5])
    _train(cfg, trainer_class=standin_trainer(evaluate=again))  # complete now: nothing to train or evaluate
    assert again.calls == []
