"""One training run per OUTPUT_DIR: an advisory lock on ``OUTPUT_DIR/.lock``.

Two runs writing into one folder mix silently (``config.yaml`` from one, checkpoints from the
other, ``metrics.jsonl`` interleaved), so a run takes an exclusive ``fcntl.flock`` on
``OUTPUT_DIR/.lock`` and writes its PID, host and start time into it. A second run finds the lock
held and refuses with :class:`RunLockedError` (an ``OSError``: one line from the tools, exit 1)
naming the holder. The operating system drops the lock when its process ends, however it ends; a
lock file that still names a run but is no longer locked is the trace of a killed run and is
taken over with a log line. A run that ends normally empties the file.

``flock`` is advisory and local to one machine's kernel (on NFS it may be emulated or absent):
it guards against the common mistake, two commands on one folder, not against every file system.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
import weakref

logger = logging.getLogger(__name__)

LOCK_NAME = ".lock"

__all__ = ["LOCK_NAME", "RunLock", "RunLockedError", "acquire_run_lock"]

# The locks this process holds, by lock-file path, weakly: a lock is released when its holder drops
# it; a run of this process that ended by an exception can leave its lock alive in the traceback,
# and the next run here on the same folder takes it over.
_HELD: weakref.WeakValueDictionary[str, RunLock] = weakref.WeakValueDictionary()


class RunLockedError(OSError):
    """OUTPUT_DIR is locked by another running training run."""


class RunLock:
    """An exclusive advisory lock on ``directory/.lock``, held until :meth:`release`, until the
    object is garbage-collected (the last reference dropped) or until the process ends."""

    def __init__(self, path: str, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Empty the lock file (a clean end, not a killed run) and drop the lock."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        if _HELD.get(self.path) is self:
            del _HELD[self.path]
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the descriptor drops the flock

    def __del__(self) -> None:
        self.release()

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _describe(record: dict) -> str:
    started = record.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)) if isinstance(started, int | float) else "?"
    return f"PID {record.get('pid', '?')} on {record.get('host', '?')}, started {when}"


def _read_record(fd: int) -> dict:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 4096).decode("utf-8", errors="replace").strip()
    if not text:
        return {}
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        return {"pid": "?", "raw": text}
    return record if isinstance(record, dict) else {}


def acquire_run_lock(directory: str) -> RunLock:
    """Lock ``directory`` (created if missing) for this run and return the held :class:`RunLock`.

    Raises :class:`RunLockedError` naming the lock file, the holder's PID, host and start time when
    another process holds it. A lock file naming a run that no longer holds it (killed, out of
    memory, machine restarted) is taken over, with a warning naming that run.
    """
    os.makedirs(directory, exist_ok=True)
    path = os.path.abspath(os.path.join(directory, LOCK_NAME))
    earlier = _HELD.pop(path, None)
    if earlier is not None:  # an earlier run of this process that did not release (it raised)
        logger.info("taking over %s from an earlier run of this process", path)
        earlier.release()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_record(fd)
        os.close(fd)
        raise RunLockedError(
            f"{directory} is in use by another training run ({_describe(holder)}; lock {path}): "
            "wait for it to end, stop it, or choose another OUTPUT_DIR"
        ) from None
    stale = _read_record(fd)
    if stale:
        logger.warning("took over the stale lock %s of a run that ended without releasing it (%s)",
                       path, _describe(stale))
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": round(time.time(), 3)}
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, (json.dumps(record) + "\n").encode("utf-8"))
    os.fsync(fd)
    lock = RunLock(path, fd)
    _HELD[path] = lock
    return lock
