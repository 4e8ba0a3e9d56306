"""The run's ``config.yaml``: an earlier, different one is kept instead of overwritten (what
resuming checks against the checkpoint is :mod:`ssd.checkpoint.resume`)."""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)


def record_config(directory: str, text: str, *, iteration: int) -> str:
    """Write the resolved config ``text`` to ``directory/config.yaml``; an earlier, different
    ``config.yaml`` is kept as ``config.<iteration>.yaml`` (``iteration``: where the run resumes;
    ``.1``, ``.2`` ... appended when that name is taken). Returns the kept file's path or ``""``."""
    path = os.path.join(directory, "config.yaml")
    kept = ""
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            previous = f.read()
        if previous != text:
            kept = os.path.join(directory, f"config.{iteration}.yaml")
            n = 0
            while os.path.exists(kept):
                n += 1
                kept = os.path.join(directory, f"config.{iteration}.{n}.yaml")
            os.replace(path, kept)
            logger.info("the earlier config.yaml of this OUTPUT_DIR is kept as %s", kept)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return kept
