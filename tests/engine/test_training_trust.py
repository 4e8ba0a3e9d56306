"""Defects of issue 11: skipped steps that still moved BatchNorm, non-finite checkpoints, stale
temporary files, resume that accepted any config, unreadable architecture mismatches."""

import json
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from standins import standin_cfg, standin_trainer  # noqa: E402

from ssd.checkpoint.io import load_checkpoint  # noqa: E402
from ssd.engine import HookBase, setup_run, train  # noqa: E402
from ssd.utils.checkpoint import last_checkpoint, save_checkpoint  # noqa: E402


def _train(cfg, **kw):
    return train(setup_run(cfg), **kw)


class Snapshots(HookBase):
    """The model's full state dict (parameters and buffers) before and after every step."""

    def before_train(self):
        self.before, self.after = [], []

    def before_step(self):
        self.before.append({k: v.clone() for k, v in self.trainer.model.state_dict().items()})

    def after_step(self):
        self.after.append({k: v.clone() for k, v in self.trainer.model.state_dict().items()})


def test_a_skipped_nonfinite_step_leaves_parameters_and_batchnorm_buffers_unchanged(tmp_path):
    cfg = standin_cfg(tmp_path, MAX_ITER=4, SKIP_NONFINITE=True)
    snaps = Snapshots()
    trainer = _train(cfg, trainer_class=standin_trainer(nan_images_at_call=3, with_bn=True), extra_hooks=[snaps])
    assert trainer.skipped_steps == 1
    skipped_before, skipped_after = snaps.before[2], snaps.after[2]
    assert {"bn.running_mean", "bn.running_var", "bn.num_batches_tracked"} <= skipped_after.keys()
    for name, value in skipped_before.items():
        assert torch.equal(skipped_after[name], value), name  # every parameter and buffer as it was
    assert not torch.equal(snaps.after[3]["bn.running_mean"], snaps.before[3]["bn.running_mean"])
    final = load_checkpoint(last_checkpoint(cfg.OUTPUT_DIR))["model"]
    assert all(torch.isfinite(v).all() for v in final.values() if v.is_floating_point())
    assert int(final["bn.num_batches_tracked"]) == 3


@pytest.mark.parametrize("clip", [0.0, 1.0], ids=["no_clipping", "clipping"])  # clipping measures the norm itself
def test_a_finite_loss_with_non_finite_gradients_is_stopped_or_skipped_too(tmp_path, clip):
    with pytest.raises(FloatingPointError, match=r"^non-finite gradient at iteration 2: loss_box=[\d.]+, "):
        _train(standin_cfg(tmp_path / "stop", MAX_ITER=3, CLIP_GRAD_NORM=clip),
               trainer_class=standin_trainer(nan_grad_at_call=2))
    snaps = Snapshots()
    trainer = _train(standin_cfg(tmp_path / "skip", MAX_ITER=3, SKIP_NONFINITE=True, CLIP_GRAD_NORM=clip),
                     trainer_class=standin_trainer(nan_grad_at_call=2, with_bn=True), extra_hooks=[snaps])
    assert trainer.skipped_steps == 1
    for name, value in snaps.before[1].items():
        assert torch.equal(snaps.after[1][name], value), name
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


class PoisonAt(HookBase):
    """Puts infinity into BatchNorm's running variance after step ``iteration`` (a buffer that the
    training-mode forward never reads, so the losses stay finite)."""

    def __init__(self, iteration):
        self.iteration = iteration

    def after_step(self):
        if self.trainer.iter == self.iteration:
            self.trainer.model.bn.running_var[0] = float("inf")


def test_a_model_with_non_finite_weights_is_never_checkpointed(tmp_path):
    # the checkpoint hook runs first at iteration 3; the poison lands after step 2
    cfg = standin_cfg(tmp_path, MAX_ITER=4, CHECKPOINT_PERIOD=3)
    # since issue 20 the step itself sees the poisoned BatchNorm statistics first (step 3 stops before
    # its checkpoint); either guard must name the buffer, and no checkpoint may be written
    with pytest.raises(FloatingPointError, match=r"the checkpoint of iteration 3: 1 parameter/buffer tensor\(s\) "
                                                 r"hold NaN or infinity \(model\.bn\.running_var\)|"
                                                 r"^non-finite BatchNorm statistics \(bn\.running_var\) at iteration 3"
                       ):
        _train(cfg, trainer_class=standin_trainer(with_bn=True), extra_hooks=[PoisonAt(2)])
    assert not [n for n in os.listdir(tmp_path) if n.startswith("model_")]


def test_the_end_of_training_checks_the_weights_even_without_a_checkpoint_then(tmp_path):
    from ssd.engine import Trainer
    from ssd.solver import build_lr_scheduler, build_optimizer

    cfg = standin_cfg(tmp_path, MAX_ITER=2)
    model = standin_trainer(with_bn=True).build_model(cfg, num_classes=3)
    optimizer = build_optimizer(cfg, model)
    trainer = Trainer(model=model, optimizer=optimizer, scheduler=build_lr_scheduler(cfg, optimizer),
                      device=torch.device("cpu"), hooks=[PoisonAt(2)])
    data = standin_trainer().build_train_loader(cfg)
    with pytest.raises(FloatingPointError, match=r"the model after iteration 2: .*\(model\.bn\.running_var\)"):
        trainer.train(data, max_iter=2)


def test_startup_removes_the_temp_files_of_killed_checkpoint_writes(tmp_path):
    (tmp_path / ".model_0000003.pth.a1b2c3d4.tmp").write_bytes(b"half")
    (tmp_path / ".last_checkpoint.x_y_z123.tmp").write_bytes(b"half")
    (tmp_path / "my_notes.tmp").write_bytes(b"mine")
    _train(standin_cfg(tmp_path, MAX_ITER=1), trainer_class=standin_trainer())
    names = os.listdir(tmp_path)
    assert not [n for n in names if n.startswith(".") and n.endswith(".tmp")]
    assert "my_notes.tmp" in names


def test_resume_logs_every_changed_key_and_keeps_the_earlier_config(tmp_path):
    _train(standin_cfg(tmp_path, MAX_ITER=4), trainer_class=standin_trainer())
    first = (tmp_path / "config.yaml").read_text()
    _train(standin_cfg(tmp_path, MAX_ITER=6, LR=0.05), trainer_class=standin_trainer())
    log = (tmp_path / "log.txt").read_text().splitlines()
    changed = sorted(ln.split(" INFO: ")[1] for ln in log if " INFO: resume:" in ln)
    assert changed == ["resume: SOLVER.LR was 0.1 in model_0000004.pth, is now 0.05",
                       "resume: SOLVER.MAX_ITER was 4 in model_0000004.pth, is now 6"]
    assert (tmp_path / "config.4.yaml").read_text() == first
    assert "MAX_ITER: 6" in (tmp_path / "config.yaml").read_text()
    # the same command again: nothing changed, nothing more kept
    _train(standin_cfg(tmp_path, MAX_ITER=6, LR=0.05), trainer_class=standin_trainer())
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith("config")) == ["config.4.yaml", "config.yaml"]


def test_resume_refuses_another_architecture_or_other_classes_unless_allowed(tmp_path):
    _train(standin_cfg(tmp_path, MAX_ITER=2), trainer_class=standin_trainer())
    other = standin_cfg(tmp_path, MAX_ITER=4)
    other.defrost()
    other.MODEL.BACKBONE.NAME = "resnet50"
    other.freeze()
    with pytest.raises(ValueError) as err:
        _train(other, trainer_class=standin_trainer())
    assert str(err.value).startswith(f"{tmp_path}/model_0000002.pth was trained as another model than this config "
                                     "builds: MODEL.BACKBONE.NAME 'vgg16' -> 'resnet50'. ")
    assert "use a new OUTPUT_DIR or pass a key that allows it (SOLVER.RESUME_ALLOW_MODEL_CHANGE True" in str(err.value)
    with pytest.raises(ValueError, match=r"classes \['circle', 'square'\] -> \['circle', 'star'\]\. .*use a new "
                                         r"OUTPUT_DIR or pass a key that allows it"):
        _train(standin_cfg(tmp_path, MAX_ITER=4), trainer_class=standin_trainer(class_names=["circle", "star"]))
    assert load_checkpoint(last_checkpoint(str(tmp_path)))["iteration"] == 2  # refused before training
    trainer = _train(standin_cfg(tmp_path, MAX_ITER=4, RESUME_ALLOW_MODEL_CHANGE=True),
                     trainer_class=standin_trainer(class_names=["circle", "star"]))
    assert trainer.start_iter == 2 and trainer.iter == 4


def test_weights_of_another_architecture_get_a_readable_error(tmp_path):
    from ssd.config import get_cfg

    stored = get_cfg()
    stored.MODEL.BACKBONE.NAME, stored.MODEL.NECK.NAME = "mobilenet_v3_large", "ssdlite_extras"
    model = standin_trainer().build_model(stored, num_classes=81)
    weights = tmp_path / "X.pth"
    torch.save({"model": model.state_dict(), "config": stored.dump(),
                "class_names": [f"c{i}" for i in range(80)]}, weights)
    cfg = standin_cfg(tmp_path / "run", MAX_ITER=1)
    cfg.defrost()
    cfg.MODEL.WEIGHTS = str(weights)
    cfg.freeze()
    with pytest.raises(ValueError) as err:
        _train(cfg, trainer_class=standin_trainer())
    assert str(err.value).startswith(
        "X.pth is a mobilenet_v3_large + ssdlite_extras model with 81 classes; this config builds vgg16 + "
        "ssd_extras model with 3 classes. 2 tensors do not match (the model has 6, the checkpoint 6): 2 of another "
        "shape (checkpoint vs model: cls.weight [81, 4] vs [3, 4], cls.bias [81] vs [3])")


def test_a_hook_reads_the_loop_bounds_from_the_trainer(tmp_path):
    class Seen(HookBase):
        def before_train(self):
            self.seen = [("start", self.trainer.start_iter, self.trainer.max_iter)]

        def before_step(self):
            self.seen.append(("before", self.trainer.iter))

        def after_step(self):
            self.seen.append(("after", self.trainer.iter))

    cfg = standin_cfg(tmp_path, MAX_ITER=2, CHECKPOINT_PERIOD=1)
    _train(cfg, trainer_class=standin_trainer())
    seen = Seen()
    _train(standin_cfg(tmp_path, MAX_ITER=4, CHECKPOINT_PERIOD=1), trainer_class=standin_trainer(), extra_hooks=[seen])
    assert seen.seen == [("start", 2, 4), ("before", 2), ("after", 3), ("before", 3), ("after", 4)]


def test_metrics_jsonl_has_one_line_per_log_period_and_resume_drops_repeated_ones(tmp_path):
    cfg = standin_cfg(tmp_path, MAX_ITER=6, LOG_PERIOD=2, CHECKPOINT_PERIOD=3)
    with pytest.raises(KeyboardInterrupt):
        _train(cfg, trainer_class=standin_trainer(stop_after=5))  # logged 2 and 4, checkpoint at 3
    _train(cfg, trainer_class=standin_trainer())
    lines = [json.loads(ln) for ln in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [ln["iteration"] for ln in lines] == [2, 4, 6]
    assert set(lines[0]) == {"iteration", "loss_box", "loss_cls", "loss", "lr", "time", "data_time", "memory_mb",
                             "skipped_nonfinite"}
    assert lines[0]["lr"] == pytest.approx(0.075) and lines[0]["memory_mb"] > 0


def test_save_checkpoint_is_not_fooled_by_integer_buffers(tmp_path):
    state = {"model": {"n": torch.tensor(7), "w": torch.ones(1)}}
    assert os.path.isfile(save_checkpoint(state, directory=str(tmp_path), iteration=1, keep=0))
