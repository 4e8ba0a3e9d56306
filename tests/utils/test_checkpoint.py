import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from ssd.checkpoint.io import load_checkpoint, model_state
from ssd.utils.checkpoint import last_checkpoint, list_checkpoints, save_checkpoint
from ssd.utils.download import cache_path

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _state(value: float, iteration: int):
    return {"model": {"w": torch.full((3,), value)}, "iteration": iteration, "class_names": ["a"]}


def test_pointer_and_keep_last_k(tmp_path):
    for it in (10, 20, 30, 40):
        save_checkpoint(_state(it, it), directory=str(tmp_path), iteration=it, keep=2)
    assert [os.path.basename(p) for p in list_checkpoints(str(tmp_path))] == ["model_0000030.pth", "model_0000040.pth"]
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000040.pth\n"
    assert load_checkpoint(last_checkpoint(str(tmp_path)))["iteration"] == 40


def test_missing_pointer_target_falls_back_to_newest(tmp_path):
    save_checkpoint(_state(1, 1), directory=str(tmp_path), iteration=1, keep=0)
    (tmp_path / "last_checkpoint").write_text("model_0000999.pth\n")
    assert os.path.basename(last_checkpoint(str(tmp_path))) == "model_0000001.pth"
    assert last_checkpoint(str(tmp_path / "nothing")) is None


def test_kill_during_write_leaves_the_previous_checkpoint_loadable(tmp_path):
    script = textwrap.dedent(f"""
        import os, signal, sys, torch
        sys.path.insert(0, {ROOT!r})
        from ssd.utils import checkpoint as ck
        d = sys.argv[1]
        ck.save_checkpoint({{"model": {{"w": torch.ones(3)}}, "iteration": 1}}, directory=d, iteration=1, keep=3)
        def dying_save(obj, f, *args, **kwargs):
            f.write(b"PK\\x03\\x04 half a checkpoint")
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        torch.save = dying_save
        ck.save_checkpoint({{"model": {{"w": torch.zeros(3)}}, "iteration": 2}}, directory=d, iteration=2, keep=3)
    """)
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert not (tmp_path / "model_0000002.pth").exists()
    path = last_checkpoint(str(tmp_path))
    assert os.path.basename(path) == "model_0000001.pth"
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(3))


def test_url_is_downloaded_once_to_the_cache(tmp_path):
    src = tmp_path / "weights.pth"
    torch.save(_state(7, 5), src)
    cache = tmp_path / "cache"
    first = load_checkpoint(src.as_uri(), cache_dir=str(cache))
    assert os.path.isfile(cache_path(src.as_uri(), cache_dir=str(cache)))
    src.unlink()  # a second load must not need the source any more
    second = load_checkpoint(src.as_uri(), cache_dir=str(cache))
    assert first["iteration"] == second["iteration"] == 5


def test_not_a_checkpoint_is_a_clear_error(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("hello")
    with pytest.raises(ValueError, match="notes.pth is not a readable checkpoint"):
        load_checkpoint(str(text))
    listing = tmp_path / "list.pth"
    torch.save([1, 2], listing)
    with pytest.raises(ValueError, match="list.pth is not a checkpoint: it holds a list"):
        load_checkpoint(str(listing))
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        load_checkpoint(str(tmp_path / "missing.pth"))
    with pytest.raises(ValueError, match="x.pth holds no model weights"):
        model_state({"iteration": 3}, source="x.pth")


def test_model_state_strips_the_ddp_prefix():
    w = torch.ones(2)
    assert model_state({"model": {"module.conv.weight": w}}, source="s") == {"conv.weight": w}
    assert model_state({"conv.weight": w}, source="s") == {"conv.weight": w}


def test_checkpoints_are_written_with_the_umask_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        path = save_checkpoint(_state(1, 1), directory=str(tmp_path), iteration=1, keep=0)
        os.umask(0o002)
        path2 = save_checkpoint(_state(2, 2), directory=str(tmp_path), iteration=2, keep=0)
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert os.stat(path2).st_mode & 0o777 == 0o664
    assert os.stat(tmp_path / "last_checkpoint").st_mode & 0o777 == 0o664


def test_stale_temp_files_of_interrupted_writes_are_removed(tmp_path):
    from ssd.utils.checkpoint import remove_stale_temp_files

    stale = [".model_0000300.pth.ab12cd34.tmp", ".model_0000300.pth.k_9xq2z1.tmp", ".last_checkpoint.0f0f0f0f.tmp",
             ".model_best.pth.12345678.tmp", ".best.json.deadbeef.tmp"]
    kept = ["model_0000300.pth", ".model_notes.tmp", "notes.tmp", ".other.pth.ab12cd34.tmp", "model_0000300.pth.tmp"]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"x")
    removed = remove_stale_temp_files(str(tmp_path))
    assert sorted(os.path.basename(p) for p in removed) == sorted(stale)
    assert sorted(os.listdir(tmp_path)) == sorted(kept)


def test_a_non_finite_model_is_never_written(tmp_path):
    state = {"model": {"a": torch.ones(2), "b": torch.tensor([1.0, float("nan")]), "n": torch.tensor(3)},
             "model_ema": {"a": torch.tensor([float("inf"), 0.0])}}
    with pytest.raises(FloatingPointError, match=r"2 parameter/buffer tensor\(s\) hold NaN or infinity "
                                                 r"\(model\.b, model_ema\.a\); not writing them"):
        save_checkpoint(state, directory=str(tmp_path), iteration=5, keep=0)
    assert os.listdir(tmp_path) == []


def test_model_state_gives_the_ema_weights_for_inference_and_the_raw_ones_on_request():
    raw, ema = {"w": torch.zeros(2)}, {"w": torch.ones(2)}
    assert model_state({"model": raw, "model_ema": ema}, source="s")["w"] is ema["w"]
    assert model_state({"model": raw, "model_ema": ema}, source="s", ema=False)["w"] is raw["w"]
    assert model_state({"model": raw}, source="s")["w"] is raw["w"]


def test_another_architecture_is_named_from_the_stored_config():
    from ssd.checkpoint.io import load_model_weights, mismatch_message
    from ssd.config import get_cfg

    stored = get_cfg()
    stored.MODEL.BACKBONE.NAME, stored.MODEL.NECK.NAME = "mobilenet_v3_large", "ssdlite_extras"
    checkpoint = {"model": {"conv.weight": torch.zeros(8, 3, 3, 3), "conv.bias": torch.zeros(8),
                            "extra.weight": torch.zeros(1)},
                  "config": stored.dump(), "class_names": [f"c{i}" for i in range(80)]}
    model = torch.nn.Sequential()
    model.add_module("conv", torch.nn.Conv2d(3, 4, 3))
    model.add_module("head", torch.nn.Linear(2, 2))
    cfg = get_cfg()  # vgg16 + ssd_extras, MODEL.NUM_CLASSES 21
    message = mismatch_message(checkpoint, source="/runs/x/X.pth", weights=checkpoint["model"], model=model,
                               config=cfg)
    assert message == (
        "X.pth is a mobilenet_v3_large + ssdlite_extras model with 81 classes; this config builds vgg16 + "
        "ssd_extras model with 21 classes. 5 tensors do not match (the model has 4, the checkpoint 3): 2 of another "
        "shape (checkpoint vs model: conv.weight [8, 3, 3, 3] vs [4, 3, 3, 3], conv.bias [8] vs [4]); "
        "2 missing from the checkpoint (head.weight, head.bias); 1 not in the model (extra.weight). "
        "Use the config the checkpoint was trained with"
    )
    with pytest.raises(ValueError) as err:
        load_model_weights(model, checkpoint, source="/runs/x/X.pth", config=cfg, num_classes=21)
    assert str(err.value) == message
    fitting = {"model": model.state_dict()}
    assert mismatch_message(fitting, source="y.pth", weights=fitting["model"], model=model) is None


def test_a_full_disk_during_a_checkpoint_write_says_so_and_where(tmp_path, monkeypatch):
    # issue 20: torch.save on a full disk ended in "RuntimeError: [enforce fail at inline_container.cc:672]
    # . unexpected pos", not telling the user the disk was full, nor which one
    import errno
    import shutil

    from ssd.utils import checkpoint as ckpt

    def full_disk_save(obj, f):
        f.write(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(ckpt.torch, "save", full_disk_save)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10 << 30, 10 << 30, 4096))
    with pytest.raises(OSError) as full:
        ckpt.save_checkpoint({"model": {}, "iteration": 3}, directory=str(tmp_path), iteration=3, keep=2)
    assert str(full.value) == (f"no space left on {tmp_path} while writing model_0000003.pth (the earlier files "
                               "are intact): free some space or set OUTPUT_DIR on another disk")
    assert full.value.errno == errno.ENOSPC and os.listdir(tmp_path) == []
    # the same RuntimeError with space left is not a full disk: it stays what it is
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10 << 30, 1 << 30, 9 << 30))
    with pytest.raises(RuntimeError, match="unexpected pos"):
        ckpt.atomic_save({}, str(tmp_path / "x.pth"))

    def enospc_write(text_file):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match=f"^no space left on {tmp_path} while writing best.json"):
        ckpt._atomic_write(str(tmp_path / "best.json"), enospc_write, "w")
