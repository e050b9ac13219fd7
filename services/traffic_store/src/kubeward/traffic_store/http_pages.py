"""Pages of arkyn lists through the ``lk`` index, O(rows read), never O(collection).

Every arkyn document carries ``lk`` = ``<parent>|<ts>|<id>`` (see
:mod:`kubeward.traffic_store.http_entities`), so one parent's rows in ``(ts, id)`` order
are one bounded range of one single-field index. A page is read as time windows of that
range (:func:`kubeward.core.windows.walk_down`), between the first and last ``ts`` the
parent's counter has seen (:mod:`kubeward.traffic_store.http_counters`), sized from the
density the counter and the previous walks show. A page by number reads every row before
it (O(page x limit)); a keyset cursor reads only its page.

Totals: the counter when the list is not filtered; for a filtered list the number of
matches when the windows reached the end of the range, else a lower bound one above the
rows read (so a client still sees a next page).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pymongo.asynchronous.collection import AsyncCollection

from kubeward.core.mongo import Document
from kubeward.core.windows import matcher, micros, stamp, walk_down
from kubeward.traffic_store.http_counters import Counters

TOP = "\x7f"
"""Sorts after every character of a ``ts`` or an id."""
_DENSITIES = 1024
"""Lists whose last seen density is remembered (the map is reset when full)."""


class Paged(NamedTuple):
    """One page of a list."""

    rows: list[Document]
    total: int
    more: bool
    """Whether a row follows the page."""


def _lk(doc: Document) -> str:
    key: str = doc["lk"]
    return key


class ListPages:
    """Reads pages of ``lk``-keyed lists; remembers each list's density between calls."""

    def __init__(self, counters: Counters) -> None:
        self._counters = counters
        self._density: dict[tuple[object, ...], float] = {}

    async def page(
        self,
        col: AsyncCollection[Document],
        *,
        parent: str,
        counter: str,
        skip: int,
        limit: int,
        extra: dict[str, Any] | None = None,
        since: str | None = None,
        until: str | None = None,
        before: str | None = None,
        ascending: bool = False,
        projection: dict[str, int] | None = None,
    ) -> Paged:
        """Rows ``skip``..``skip + limit`` of ``parent``'s list in ``lk`` order.

        ``extra`` filters the rows; ``since`` and ``until`` bound ``ts`` (both inclusive,
        stored format); ``before`` keeps only rows whose ``lk`` sorts before it (a keyset
        cursor of a newest-first list).
        """
        tally = await self._counters.read(counter)
        filtered = bool(extra or since or until)
        if tally.first is None or tally.last is None:
            return Paged([], 0 if filtered else tally.n, False)
        first, last = micros(tally.first), micros(tally.last)
        if since is not None:
            first = max(first, micros(since))
        if until is not None:
            last = min(last, micros(until))
        if before is not None:
            last = min(last, micros(before[len(parent) + 1 :].split("|", 1)[0]))
        base: dict[str, Any] = dict(extra or {})
        matches = matcher(base)  # in the filter, any field but lk would make SecantusDB scan

        async def fetch(lo: int, hi: int) -> list[Document]:
            if ascending:  # keys are negated times: (lo, hi] is ts in [-hi, -lo)
                bounds = {"$gte": f"{parent}|{stamp(-hi)}", "$lt": f"{parent}|{stamp(-lo)}"}
            else:
                bounds = {"$gt": f"{parent}|{stamp(lo)}{TOP}", "$lte": f"{parent}|{stamp(hi)}{TOP}"}
            docs = [d for d in await col.find({"lk": bounds}, projection).to_list() if matches(d)]
            if before is not None:
                docs = [d for d in docs if d["lk"] < before]
            return docs

        shape = (col.name, parent, ascending, *sorted(base), since is None, until is None)
        average = tally.n / max(1, micros(tally.last) - micros(tally.first) + 1)
        walk = await walk_down(
            fetch,
            top=-first if ascending else last,
            floor=-(last + 1) if ascending else first - 1,
            need=skip + limit + 1,
            order=_lk,
            density=self._density.get(shape, average),
            skip=skip,
            descending=not ascending,
        )
        if walk.density:
            if len(self._density) >= _DENSITIES:
                self._density.clear()
            self._density[shape] = walk.density
        rows = walk.rows[:limit]
        more = walk.seen > skip + limit
        if not filtered:
            return Paged(rows, tally.n, more)
        return Paged(rows, walk.seen if walk.covered else walk.seen + 1, more)
