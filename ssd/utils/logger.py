"""Logging setup: rank 0 logs INFO to stdout and ``OUTPUT_DIR/log.txt``; other ranks log
warnings to stdout and everything to ``log_rank<r>.txt``."""

from __future__ import annotations

import logging
import os
import sys

_FORMAT = "%(asctime)s %(name)s %(levelname)s: %(message)s"


def setup_logger(*, output_dir: str | None, rank: int = 0, name: str = "ssd") -> logging.Logger:
    """Configure (idempotently) the ``ssd`` package logger and return it."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    formatter = logging.Formatter(_FORMAT, datefmt="%m/%d %H:%M:%S")
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
