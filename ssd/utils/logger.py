"""Logging setup: rank 0 logs INFO to stdout and ``OUTPUT_DIR/log.txt``; other ranks log
warnings to stdout and everything to ``log_rank<r>.txt``."""

from __future__ import annotations

import logging
import os
import sys

_FORMAT = "%(asctime)s %(name)s %(levelname)s: %(message)s"
_DATEFMT = "%m/%d %H:%M:%S"

__all__ = ["setup_logger", "setup_tool_logging"]


def setup_tool_logging(level: int = logging.INFO) -> None:
    """Log lines of a tool without a run folder (demo, eval, data, ...) on stderr, in the format of
    :func:`setup_logger`: one log format across the tools. A no-op when logging is configured."""
    logging.basicConfig(level=level, format=_FORMAT, datefmt=_DATEFMT)


def setup_logger(*, output_dir: str | None, rank: int = 0, name: str = "ssd") -> logging.Logger:
    """Configure (idempotently) the ``ssd`` package logger and return it."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    formatter = logging.Formatter(_FORMAT, datefmt=_DATEFMT)
    stream = logging.StreamHandler(stream=sys.stdout)
    stream.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    stream.setFormatter(formatter)
    logger.addHandler(stream)
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        fname = "log.txt" if rank == 0 else f"log_rank{rank}.txt"
        fh = logging.FileHandler(os.path.join(output_dir, fname))
        fh.setFormatter(formatter)
        logger.addHandler(fh)
    return logger
