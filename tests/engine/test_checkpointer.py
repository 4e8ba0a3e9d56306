"""The Checkpointer: the one owner of a run's checkpoint files (save, keep-K, pointer, resume,
MODEL.WEIGHTS, best checkpoint)."""

from __future__ import annotations

import json
import os

import pytest
import torch

from ssd.checkpoint import TRANSFER_REPORT, Checkpointer
from ssd.checkpoint.io import load_checkpoint
from ssd.config import load_config
from ssd.modeling import build_model

from .tiny_model import CLASS_NAMES, CONFIG, TINY_OPTS, write_tiny_checkpoint


def _model(seed: int, classes=CLASS_NAMES):
    torch.manual_seed(seed)
    cfg = load_config(CONFIG, TINY_OPTS)
    return cfg, build_model(cfg, num_classes=len(classes) + 1)


def _equal(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_save_keeps_the_newest_and_stores_config_and_classes(tmp_path):
    cfg, model = _model(0)
    checkpointer = Checkpointer(model, str(tmp_path), config=cfg, class_names=CLASS_NAMES, keep=2)
    for iteration in (10, 20, 30):
        checkpointer.save({"model": model.state_dict(), "iteration": iteration}, iteration=iteration)
    assert sorted(n for n in os.listdir(tmp_path) if n.endswith(".pth")) == ["model_0000020.pth",
                                                                             "model_0000030.pth"]
    assert checkpointer.last_checkpoint() == str(tmp_path / "model_0000030.pth")
    stored = load_checkpoint(checkpointer.last_checkpoint())
    assert stored["class_names"] == CLASS_NAMES and stored["config"] == cfg.dump() and stored["iteration"] == 30


def test_a_rank_that_does_not_write_still_refuses_nonfinite_weights(tmp_path):
    cfg, model = _model(0)
    checkpointer = Checkpointer(model, str(tmp_path), config=cfg, class_names=CLASS_NAMES, save_to_disk=False)
    state = model.state_dict()
    assert checkpointer.save({"model": state}, iteration=1) is None and os.listdir(tmp_path) == []
    bad = dict(state)
    name = next(k for k, v in bad.items() if v.is_floating_point())
    bad[name] = torch.full_like(bad[name], float("nan"))
    with pytest.raises(FloatingPointError, match=name):
        checkpointer.save({"model": bad}, iteration=2)


def test_resume_or_load_continues_the_last_checkpoint_with_its_weights(tmp_path):
    cfg, trained = _model(0)
    Checkpointer(trained, str(tmp_path), config=cfg, class_names=CLASS_NAMES).save(
        {"model": trained.state_dict(), "iteration": 7, "optimizer": {"marker": 1}}, iteration=7)
    _, fresh = _model(1)
    assert not _equal(fresh.state_dict(), trained.state_dict())
    checkpointer = Checkpointer(fresh, str(tmp_path), config=cfg, class_names=CLASS_NAMES)
    (tmp_path / ".model_0000008.pth.ab12cd34.tmp").write_bytes(b"half")  # an interrupted write
    state = checkpointer.resume_or_load("", resume=True)
    assert state["iteration"] == 7 and state["optimizer"] == {"marker": 1}
    assert checkpointer.resumed_from == str(tmp_path / "model_0000007.pth")
    assert _equal(fresh.state_dict(), trained.state_dict())
    assert not (tmp_path / ".model_0000008.pth.ab12cd34.tmp").exists()


def test_resume_refuses_a_checkpoint_of_other_classes(tmp_path):
    cfg, model = _model(0)
    Checkpointer(model, str(tmp_path), config=cfg, class_names=CLASS_NAMES).save(
        {"model": model.state_dict()}, iteration=1)
    others = ["star", "square", "circle", "triangle"]
    checkpointer = Checkpointer(_model(1, others)[1], str(tmp_path), config=cfg, class_names=others)
    with pytest.raises(ValueError, match=r"classes \['circle', 'square', 'triangle', 'star'\] -> \['star'"):
        checkpointer.resume_or_load("", resume=True)


def test_without_a_checkpoint_it_loads_model_weights_carrying_classes_by_name(tmp_path):
    source = write_tiny_checkpoint(str(tmp_path / "source.pth"), seed=3)
    target_names = ["star", "hexagon"]  # star shared (source label 4), hexagon new
    cfg, model = _model(1, target_names)
    run = tmp_path / "run"
    checkpointer = Checkpointer(model, str(run), config=cfg, class_names=target_names)
    assert checkpointer.resume_or_load(source, resume=True) is None and checkpointer.resumed_from is None
    report = json.loads((run / TRANSFER_REPORT).read_text())
    assert report["source"] == source
    assert [(row["class"], row["from"]) for row in report["carried"]] == [("__background__", "__background__"),
                                                                          ("star", "star")]
    assert report["fresh"] == ["hexagon"]


def test_the_best_checkpoint_is_written_only_when_the_metric_improves(tmp_path):
    cfg, model = _model(0)
    checkpointer = Checkpointer(model, str(tmp_path), config=cfg, class_names=CLASS_NAMES)
    calls = []

    def weights():
        calls.append(1)
        return {"model": model.state_dict(), "iteration": len(calls)}

    def result(ap):
        return {"bbox": {"metrics": {"AP": ap}, "primary": "AP"}}

    assert checkpointer.update_best(weights, iteration=10, dataset="val", result=result(0.3))
    assert not checkpointer.update_best(weights, iteration=20, dataset="val", result=result(0.2))
    assert checkpointer.update_best(weights, iteration=30, dataset="val", result=result(0.4))
    assert len(calls) == 2  # the weights are only gathered for a new best
    best = json.loads((tmp_path / "best.json").read_text())
    assert (best["iteration"], best["value"]) == (30, 0.4)
    stored = load_checkpoint(str(tmp_path / "model_best.pth"))
    assert stored["class_names"] == CLASS_NAMES and stored["config"] == cfg.dump()
    # a later Checkpointer of the same folder (a resumed run) continues from best.json
    again = Checkpointer(model, str(tmp_path), config=cfg, class_names=CLASS_NAMES)
    assert not again.update_best(weights, iteration=40, dataset="val", result=result(0.35))
