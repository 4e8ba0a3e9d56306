"""Progress of a loop that runs without a terminal: a log line every ``period_s`` seconds."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

logger = logging.getLogger(__name__)


class LoggedProgress:
    """Wraps a loader: iterating logs ``"<desc>: 12/50 batches, 3.1 batches/s, eta 12s"`` every
    ``period_s`` seconds and once at the end; every other attribute (``dataset``, ...) is the loader's."""

    def __init__(self, loader: Iterable, *, desc: str, period_s: float = 10.0) -> None:
        self.loader, self.desc, self.period_s = loader, desc, period_s

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)

    def __len__(self) -> int:
        return len(self.loader)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator:
        try:
            total: int | None = len(self.loader)  # type: ignore[arg-type]
        except TypeError:
            total = None
        start = last = time.perf_counter()
        done, logged = 0, -1
        for batch in self.loader:
            yield batch
            done += 1
            now = time.perf_counter()
            if now - last >= self.period_s:
                last, logged = now, done
                logger.info("%s", self._line(done, total, now - start))
        if logged != done:  # the last batch may have logged already: one "2/2 batches" line, not two
            logger.info("%s", self._line(done, total, time.perf_counter() - start))

    def _line(self, done: int, total: int | None, elapsed: float) -> str:
        rate = done / elapsed if elapsed > 0 else 0.0
        line = f"{self.desc}: {done}/{total if total is not None else '?'} batches, {rate:.2f} batches/s"
        if total is not None and rate > 0 and done < total:
            line += f", eta {int((total - done) / rate)}s"
        return line
