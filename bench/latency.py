"""Latency statistics the benchmarks share: percentiles, sorted millisecond samples and
sequentially timed calls.

Two percentile rules are in use and both are kept, so every benchmark prints what it always
printed: :func:`percentile` is the nearest rank (``ceil(q * n)``), :func:`quantile` the
sample at index ``int(q * n)`` (one rank higher on an exact multiple).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0-1) of an ascending sequence; NaN when empty."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def quantile(values: Sequence[float], share: float) -> float:
    """The sample at index ``int(share * n)`` of ``values`` sorted (the maximum when that is
    past the end); 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def sorted_ms(ns: Sequence[int]) -> list[float]:
    """Nanosecond samples as ascending milliseconds."""
    return sorted(v / 1e6 for v in ns)


@dataclass
class Latencies:
    """Latencies in milliseconds, sorted, with how many were expected."""

    label: str
    ms: list[float]
    expected: int

    @property
    def p50(self) -> float:
        """Median."""
        return percentile(self.ms, 0.50)

    @property
    def p99(self) -> float:
        """99th percentile."""
        return percentile(self.ms, 0.99)

    @property
    def max(self) -> float:
        """Largest."""
        return self.ms[-1] if self.ms else math.nan

    @property
    def delivered(self) -> float:
        """Fraction of the expected samples that arrived."""
        return len(self.ms) / self.expected if self.expected else math.nan


def latencies(label: str, ns: Sequence[int], expected: int | None = None) -> Latencies:
    """Nanosecond samples as sorted milliseconds."""
    ms = sorted_ms(ns)
    return Latencies(label, ms, len(ms) if expected is None else expected)


async def timed_calls(call: Callable[[], Awaitable[T]], calls: int) -> tuple[list[float], T]:
    """``calls`` (at least 1) sequential awaits of ``call()``: the seconds each took and the
    last result."""
    if calls < 1:
        raise ValueError(f"calls must be at least 1, not {calls}")
    seconds: list[float] = []
    while True:
        started = time.perf_counter()
        result = await call()
        seconds.append(time.perf_counter() - started)
        if len(seconds) == calls:
            return seconds, result
