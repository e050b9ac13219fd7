"""What the store remembers of open records (``OpenRecords``): only open records with a
``rev``, without the fields a repeat report replaces, the least recently used forgotten
first."""

from __future__ import annotations

from typing import Any

from kubeward.failure_analyzer.open_records import OpenRecords


def record(pod: str, record_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "_id": record_id,
        "open_key": f"shop/{pod}",
        "rev": 0,
        "manifest": "x" * 1000,
        "status": "new",
    } | fields


def test_an_entry_is_the_record_without_the_dropped_fields() -> None:
    remembered = OpenRecords(["manifest"])
    remembered.remember(record("a", 1))
    assert remembered.get("shop/a") == {"_id": 1, "open_key": "shop/a", "rev": 0, "status": "new"}


def test_closed_records_and_records_without_rev_are_not_kept() -> None:
    remembered = OpenRecords(["manifest"])
    remembered.remember(record("a", 1))
    before_rev = {k: v for k, v in record("a", 1).items() if k != "rev"}  # written before rev
    remembered.remember(before_rev)
    assert remembered.get("shop/a") is None, "the entry outlived a newer read of its record"
    remembered.remember({"_id": 2, "status": "resolved", "rev": 3})  # no open_key
    assert len(remembered) == 0


def test_forget_only_drops_the_entry_of_that_record() -> None:
    remembered = OpenRecords(["manifest"])
    remembered.remember(record("a", 2))
    remembered.forget("shop/a", 1)  # an older record of the pod
    assert remembered.get("shop/a") is not None
    remembered.forget("shop/a", 2)
    assert remembered.get("shop/a") is None


def test_the_least_recently_used_go_first() -> None:
    remembered = OpenRecords(["manifest"], memory=3)
    for n, pod in enumerate("abc"):
        remembered.remember(record(pod, n))
    assert remembered.get("shop/a") is not None  # a is used again: b is now the oldest
    remembered.remember(record("d", 3))
    assert len(remembered) == 3
    assert remembered.get("shop/b") is None
    assert all(remembered.get(f"shop/{pod}") is not None for pod in "acd")
