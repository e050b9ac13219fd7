"""What this process last wrote or read of pods' open records, so a repeat report can be
stored without reading its record first.

A record's ``rev`` goes up with every write to it (every write of
:class:`~kubeward.failure_analyzer.store.FailureStore` increments it). An entry is the
record as it was at its ``rev``, without the report fields a repeat report replaces
anyway (the manifest, logs, events and statuses: most of a record's size). A write made
from an entry is conditional on that ``rev``: if another replica, a status change or a
deletion came in between, it matches nothing and the report is stored the careful way
(read, then write). An entry can be stale, never wrong.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from kubeward.core.mongo import Document

MEMORY = 4096
"""Open records remembered (least recently used go first): ~1-2 KB each."""


class OpenRecords:
    """Pods' open records by ``open_key``, least recently used forgotten first."""

    def __init__(self, dropped_fields: Iterable[str], memory: int = MEMORY) -> None:
        self._dropped = tuple(dropped_fields)
        self._memory = memory
        self._entries: OrderedDict[str, Document] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Document | None:
        """The pod's open record as last written or read here, without the dropped fields;
        ``None`` when not known."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def remember(self, doc: Document) -> None:
        """Keep ``doc`` (a record as stored) if it is open and has a ``rev``; forget its
        pod's entry otherwise."""
        key = doc.get("open_key")
        if not isinstance(key, str):
            return
        if "rev" not in doc:
            self._entries.pop(key, None)
            return
        self._entries[key] = {k: v for k, v in doc.items() if k not in self._dropped}
        self._entries.move_to_end(key)
        while len(self._entries) > self._memory:
            self._entries.popitem(last=False)

    def forget(self, key: str, record_id: Any) -> None:
        """Forget the pod's entry if it is of record ``record_id``."""
        entry = self._entries.get(key)
        if entry is not None and entry["_id"] == record_id:
            del self._entries[key]
