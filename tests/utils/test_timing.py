"""The one interleaved timer of the benchmarks (ssd.utils.timing)."""

import pytest

from ssd.utils.timing import interleaved


def test_interleaving_runs_each_backend_several_times_a_round_and_times_the_last_call():
    log = []
    times = interleaved({"a": lambda: log.append("a"), "b": lambda: log.append("b")}, rounds=2, calls=3)
    assert "".join(log) == "ab" + "aaabbb" * 2  # one warm-up call each, then rounds of 3 calls in a row
    assert [len(t) for t in times.values()] == [2, 2]


def test_one_call_a_round_without_warm_up_keeps_the_last_outputs():
    log, outputs = [], {}
    counter = iter(range(100))
    times = interleaved({"x": lambda: log.append("x") or next(counter), "y": lambda: log.append("y") or "why"},
                        rounds=3, calls=1, warmup=0, outputs=outputs)
    assert "".join(log) == "xy" * 3
    assert outputs == {"x": 2, "y": "why"}
    assert all(len(t) == 3 and min(t) >= 0 for t in times.values())


def test_rounds_and_calls_must_be_positive():
    with pytest.raises(ValueError, match="rounds = 0, calls = 1, warmup = 1"):
        interleaved({"a": lambda: None}, rounds=0, calls=1)
