"""One training run per OUTPUT_DIR (issue 20: two runs on one folder mixed their checkpoints,
config.yaml and metrics.jsonl silently)."""

import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest

from ssd.utils.run_lock import LOCK_NAME, RunLockedError, acquire_run_lock

HOLD = """
import sys, time
from ssd.utils.run_lock import acquire_run_lock
lock = acquire_run_lock(sys.argv[1])
print("locked", flush=True)
time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock on tmp_path / "run"; killed (SIGKILL) at the end."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_run_is_refused_naming_the_holder_then_a_killed_holder_is_taken_over(holder, tmp_path, caplog):
    record = json.loads((tmp_path / "run" / LOCK_NAME).read_text())
    assert record["pid"] == holder.pid and abs(record["started"] - time.time()) < 60
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(record["started"]))
    with pytest.raises(RunLockedError) as refused:
        acquire_run_lock(str(tmp_path / "run"))
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / 'run'} is in use by another training run (PID {holder.pid} on ")
    assert f"started {started}" in message and message.endswith("or choose another OUTPUT_DIR")
    assert isinstance(refused.value, OSError)  # the tools print it as one line and exit 1

    os.kill(holder.pid, signal.SIGKILL)  # kill -9: the lock file still names it, the kernel dropped the lock
    holder.wait()
    with caplog.at_level(logging.WARNING, logger="ssd.utils.run_lock"):
        lock = acquire_run_lock(str(tmp_path / "run"))
    assert "took over the stale lock" in caplog.text and f"PID {holder.pid} " in caplog.text
    assert json.loads((tmp_path / "run" / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.release()


def test_a_released_lock_is_empty_and_taken_again_without_a_warning(tmp_path, caplog):
    lock = acquire_run_lock(str(tmp_path))
    lock.release()
    assert (tmp_path / LOCK_NAME).read_text() == ""
    with caplog.at_level(logging.WARNING, logger="ssd.utils.run_lock"):
        again = acquire_run_lock(str(tmp_path))
    assert caplog.text == "" and again.held
    del again  # dropping the last reference releases it
    assert (tmp_path / LOCK_NAME).read_text() == ""


def test_train_on_a_locked_output_dir_refuses_and_writes_no_run_record(holder, tmp_path):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "engine"))
    from standins import standin_cfg, standin_trainer

    from ssd.engine import setup_run, train

    run = tmp_path / "run"
    (run / "env.json").write_text('{"the running run": 1}\n')  # what the holder recorded
    with pytest.raises(RunLockedError, match=f"PID {holder.pid} on "):
        train(setup_run(standin_cfg(run, MAX_ITER=2)), trainer_class=standin_trainer())
    assert not [n for n in os.listdir(run) if n.startswith(("model_", "config", "metrics", "last_checkpoint"))]
    assert (run / "env.json").read_text() == '{"the running run": 1}\n'  # not overwritten by the refused run
    holder.kill()
    holder.wait()
    train(setup_run(standin_cfg(run, MAX_ITER=2)), trainer_class=standin_trainer())  # the lock is free again
    assert (run / "model_0000002.pth").exists() and (run / LOCK_NAME).read_text() == ""
