"""``heap.settle``: start-up's objects leave the collector, the young threshold is applied."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from kubeward.core import heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    """This test process's collector as it was, afterwards."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_settle_freezes_what_lives_and_sets_the_young_threshold() -> None:
    kept = [object() for _ in range(3)]
    heap.settle(12_345)
    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold()[0] == 12_345
    garbage: list[object] = []
    garbage.append(garbage)  # a cycle made after the freeze is still collected
    del garbage
    assert gc.collect() >= 1


@pytest.mark.usefixtures("restored_gc")
def test_a_zero_threshold_keeps_cpythons() -> None:
    before = gc.get_threshold()
    heap.settle(0)
    assert gc.get_threshold() == before
