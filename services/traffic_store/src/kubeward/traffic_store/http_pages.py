"""Pages of arkyn lists through the ``lk`` index, O(rows read), never O(collection).

Every arkyn document carries ``lk`` = ``<parent>|<ts>|<id>`` (see
:mod:`kubeward.traffic_store.http_entities`), so one parent's rows in ``(ts, id)`` order
are one bounded range of one single-field index. A page is read as time windows of that
range (:func:`kubeward.core.windows.walk_down`), between the first and last ``ts`` the
parent's counter has seen (:mod:`kubeward.traffic_store.http_counters`), sized from the
density the counter and the previous walks show. A page by number reads every row before
it (O(page x limit)), except on a ranked list (a source's traffic), whose day and
ten-minute counts tell which ten minutes a deep page starts in (O(page + those ten
minutes' rows)); a keyset cursor reads only its page.

A list filtered on fields the collection keeps facets of (``facet_fields``: HTTP traffic
records' ``fk``, one ``<parent>|<field>=<value>|<ts>|<id>`` per filter value, one multikey
index; see :mod:`kubeward.core.facets`) walks the range of the first such filter instead
of the parent's, so a rare value reads about its matches, not every row of the parent.

Totals: the counter when the list is not filtered; for a filtered list the number of
matches when the windows reached the end of the range, else a lower bound one above the
rows read (so a client still sees a next page).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from pymongo.asynchronous.collection import AsyncCollection

from kubeward.core import facets
from kubeward.core.mongo import Document
from kubeward.core.windows import matcher, micros, stamp, walk_down
from kubeward.traffic_store.http_counters import Counters

FACET_KEYS = "fk"
"""The field holding a document's list key under each of its facets."""
TOP = "\x7f"
"""Sorts after every character of a ``ts`` or an id."""
DEEP_SKIP = 500
"""From how many rows skipped a ranked list's page number is found from its slot counts."""
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
        facet_fields: Sequence[str] = (),
        ranked: bool = False,
    ) -> Paged:
        """Rows ``skip``..``skip + limit`` of ``parent``'s list in ``lk`` order.

        ``extra`` filters the rows; ``since`` and ``until`` bound ``ts`` (both inclusive,
        stored format); ``before`` keeps only rows whose ``lk`` sorts before it (a keyset
        cursor of a newest-first list). ``facet_fields``: the filter fields ``col`` keeps
        :data:`FACET_KEYS` of, most selective first. ``ranked``: ``counter`` keeps day and
        ten-minute counts (:meth:`~kubeward.traffic_store.http_counters.Counters.add_times`),
        so an unfiltered page from row :data:`DEEP_SKIP` on starts in the ten minutes its
        first row is in, skipping only their rows ahead of it.
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
        matches = matcher(base)  # in the filter, any field but the key would make SecantusDB scan
        field, wanted = facets.pick(base, facet_fields)
        ranges = (
            [("lk", parent)]
            if field == facets.ALL
            else [(FACET_KEYS, f"{parent}|{value}") for value in wanted]
        )

        async def fetch(lo: int, hi: int) -> list[Document]:
            docs: list[Document] = []
            for key, prefix in ranges:
                if ascending:  # keys are negated times: (lo, hi] is ts in [-hi, -lo)
                    bounds = {"$gte": f"{prefix}|{stamp(-hi)}", "$lt": f"{prefix}|{stamp(-lo)}"}
                else:
                    bounds = {
                        "$gt": f"{prefix}|{stamp(lo)}{TOP}",
                        "$lte": f"{prefix}|{stamp(hi)}{TOP}",
                    }
                found = await col.find({key: bounds}, projection).to_list()
                docs += [d for d in found if matches(d)]
            if before is not None:
                docs = [d for d in docs if d["lk"] < before]
            return docs

        top = -first if ascending else last
        if ranked and not filtered and before is None and skip >= DEEP_SKIP:
            if skip >= tally.n:
                return Paged([], tally.n, False)
            place = await self._counters.locate(counter, skip, newest_first=not ascending)
            if place is not None:  # else the counts are behind: read every row before
                top = -micros(place.start) if ascending else micros(place.end)
                skip -= place.before
        shape = (col.name, parent, ascending, *sorted(base), *wanted, since is None, until is None)
        average = tally.n / max(1, micros(tally.last) - micros(tally.first) + 1)
        walk = await walk_down(
            fetch,
            top=top,
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
