"""Garbage-collector settings for the long-running processes.

CPython's full (generation 2) collection walks every object the collector tracks. What a
service builds while it starts (frameworks, drivers, schemas, routes: ~150 k objects in the
gateway) never becomes garbage, yet every full collection walked it again; with 1000 feed
clients the gateway held ~330 k objects and each full collection paused its event loop for
90-190 ms, every 10-15 s: the slowest POST → ``pod_failure`` frame latencies were those pauses.

:func:`settle`, once the process has started, freezes what start-up built (``gc.freeze``,
which CPython offers for this: frozen objects are left out of every later collection) and
collects the youngest generation less often, so a request's short-lived objects mostly die
by reference count before a collection can promote them, and full collections become rare.
"""

from __future__ import annotations

import gc


def settle(young_threshold: int) -> None:
    """Collect once, freeze what survived, then collect the youngest generation every
    ``young_threshold`` net allocations (``0`` keeps CPython's threshold)."""
    gc.collect()
    gc.freeze()
    if young_threshold > 0:
        _young, middle, old = gc.get_threshold()
        gc.set_threshold(young_threshold, middle, old)
