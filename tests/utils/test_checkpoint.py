import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from ssd.utils.checkpoint import (
    last_checkpoint,
    list_checkpoints,
    load_checkpoint,
    model_state,
    save_checkpoint,
)
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
