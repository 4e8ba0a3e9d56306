"""Timing several implementations against each other in one process.

Machines drift over minutes (other load, clocks, caches), so implementations are timed
*interleaved*: round by round, each function in turn, and compared per round rather than by
totals taken at different times. The benchmarks of inference backends, training steps, data
pipelines and evaluators all use :func:`interleaved`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any


def interleaved(fns: Mapping[str, Callable[[], Any]], *, rounds: int, calls: int = 2, warmup: int = 1,
                outputs: dict[str, Any] | None = None) -> dict[str, list[float]]:
    """Seconds per call of each function (``{name: [rounds]}``), the functions alternating round
    by round in ``fns``' order.

    In a round each function runs ``calls`` times in a row and only the last call is timed, so it
    runs as it would in a loop of its own (a runtime can be slower on its first call after another
    library's work); ``warmup`` untimed calls of each function come first. When ``outputs`` is
    given, it receives each function's return value of the last timed call.
    """
    if rounds < 1 or calls < 1 or warmup < 0:
        raise ValueError(f"rounds = {rounds}, calls = {calls}, warmup = {warmup}; expected >= 1, >= 1, >= 0")
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(calls - 1):
                fn()
            start = time.perf_counter()
            result = fn()
            times[name].append(time.perf_counter() - start)
            if outputs is not None:
                outputs[name] = result
    return times
