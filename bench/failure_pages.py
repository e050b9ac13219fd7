"""Failed-pod listing pages and the report write as the store grows: 1 k, 10 k, 100 k records.

Run by ``make bench`` (``uv run --no-sync python -m bench.failure_pages [--records 1000,10000]``
from the repository root; ``--help`` lists every option).

It starts one SecantusDB on disk (as ``make run`` does; ``BENCH_MONGODB_URL`` points it at a
MongoDB of yours instead) and fills it, size after size, with agent-shaped failure records
(~7 KB: the reports of :func:`kubeward.devstack.failure_reports.generate` — events,
container statuses, the manifest, logs — with their offline solution; ids from the store's
counter; statuses mixed 80 % resolved, 10 % new, 5 % investigating, 5 % ignored; 40
namespaces, a few of them busy) written with ``insert_many`` for speed. At each size, in the
same run, it measures:

- each view (``active`` = ``/api/pods/failed``, ``history``, ``ignored``), with and without
  ``namespace=``, page 1 and a deep page (the cursor at half the ids), ``limit`` 100 and 1000:
  p50/p99 of :meth:`FailureStore.query` plus the reply body (``to_api`` and JSON encoding),
  i.e. failure-analyzer's whole answer to a list request, without the NATS and HTTP hops;
- the raw limits of a page: one bounded range of the ``(status, _id)`` index returning the
  same number of records, and serialising the page (``to_api`` + ``msgspec.json``) alone;
- per report, :meth:`FailureStore.record` of a new pod and of a repeat report (no diagnosis:
  that is CPU, not the store), and ``reserve_ids`` (a ``find_one_and_update`` of the counter);
- a retention sweep deleting 100 records past retention, from a store that never swept;
- the SecantusDB process's RSS and its peak.

It prints a table per size and the cost at each size over the cost at the first; it never
asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from bench import common
from bench.common import BenchError, Document, Stack, machine_info, mongo_client, say, version
from bench.latency import quantile, timed_calls
from kubeward.core import mongo
from kubeward.devstack import infra
from kubeward.devstack.failure_reports import generate
from kubeward.devstack.procs import free_port
from kubeward.failure_analyzer.diagnosis import diagnose, render
from kubeward.failure_analyzer.store import (
    COLLECTION,
    COUNTERS,
    FailureStore,
    Solution,
    open_key,
    to_api,
    utcnow,
)
from kubeward.schemas.pod_failures import (
    FailureQuery,
    FailureReportEnvelope,
    FailureView,
    PodFailureReport,
)

DB_NAME = "bench_failure_pages"
POOL = 600
"""Distinct generated reports; records reuse them under their own pod names."""
NAMESPACES = tuple(f"team-{i:02d}" for i in range(40))
BUSY = NAMESPACES[:4]
"""Half the records are in these four namespaces."""
FILTERED = NAMESPACES[7]
"""The namespace of the ``namespace=`` measurements (one of the quieter ones)."""
STATUSES = (("resolved", 0.80), ("new", 0.10), ("investigating", 0.05), ("ignored", 0.05))
VIEWS: tuple[FailureView, ...] = ("active", "history", "ignored")
LIMITS = (100, 1000)
INSERT_BATCH = 1000
WRITES = 100
"""Reports per ``record()`` measurement (new pods, then as many repeats)."""
MAX_PAGE = 5000


@dataclass
class Timing:
    """Seconds of repeated calls."""

    samples: list[float]

    @property
    def p50(self) -> float:
        """Median."""
        return statistics.median(self.samples)

    @property
    def p99(self) -> float:
        """99th percentile (the maximum below 100 samples)."""
        return quantile(self.samples, 0.99)


@dataclass
class PageFigure:
    """One page's timing, rows, and its raw limit timed alternately with it."""

    timing: Timing
    rows: int
    raw: Timing


@dataclass
class SizeResult:
    """Everything measured at one size."""

    records: int
    pages: dict[tuple[str, str, str, int], PageFigure] = field(default_factory=dict)
    """(view, namespace or ``-``, ``first``/``deep``, limit) -> figures."""
    raw_range: dict[int, Timing] = field(default_factory=dict)
    serialise: dict[int, tuple[Timing, int]] = field(default_factory=dict)
    """limit -> timing, bytes of the page."""
    record_new: float = 0.0
    record_repeat: float = 0.0
    reserve_ids: float = 0.0
    find_one: float = 0.0
    """Raw limit of a write's look-ups: an indexed ``find_one`` by ``_id``."""
    sweep: float = 0.0
    rss_mb: int = 0
    peak_mb: int = 0


async def timed(call: Callable[[], Awaitable[object]], repeats: int) -> Timing:
    """``repeats`` sequential calls, after one warm-up call."""
    await call()
    samples, _last = await timed_calls(call, repeats)
    return Timing(samples)


def memory_mb(pid: int | None) -> tuple[int, int]:
    """(RSS, peak RSS) of a process in MB, from /proc; zeros when unknown."""
    if pid is None:
        return 0, 0
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) // 1024
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


class Filler:
    """Writes record-shaped documents as :meth:`FailureStore.record` stores them."""

    def __init__(self, db: AsyncDatabase[Document], pool: list[PodFailureReport]) -> None:
        self.db = db
        self.pool = pool
        self.solutions = [render(r, diagnose(r)) for r in pool]
        self.rng = random.Random(7)
        self.written = 0

    def _namespace(self) -> str:
        return self.rng.choice(BUSY) if self.rng.random() < 0.5 else self.rng.choice(NAMESPACES)

    def _status(self) -> str:
        roll, total = self.rng.random(), 0.0
        for status, share in STATUSES:
            total += share
            if roll < total:
                return status
        return "resolved"

    async def fill(self, count: int) -> float:
        """Write ``count`` more records; returns the seconds it took."""
        col = self.db[COLLECTION]
        started = time.perf_counter()
        done = 0
        while done < count:
            n = min(INSERT_BATCH, count - done)
            ids = await mongo.reserve_ids(self.db[COUNTERS], COLLECTION, n)
            await col.insert_many([self._doc(i) for i in ids], ordered=False)
            done += n
        self.written += count
        return time.perf_counter() - started

    def _doc(self, record_id: int) -> Document:
        k = record_id % len(self.pool)
        report = self.pool[k]
        namespace = self._namespace()
        pod = f"{report.pod_name}-{record_id}"
        status = self._status()
        seen = datetime(2026, 3, 2, tzinfo=UTC).replace(tzinfo=None) + timedelta(seconds=record_id)
        doc: Document = {
            "_id": record_id,
            "pod_name": pod,
            "namespace": namespace,
            **{
                name: msgspec.to_builtins(getattr(report, name))
                for name in PodFailureReport.__struct_fields__
                if name not in ("pod_name", "namespace", "failure_logs")
            },
            "solution": self.solutions[k],
            "solution_source": "offline",
            "analyzer": None,
            "llm_error": None,
            "first_seen": seen,
            "last_seen": seen,
            "report_count": 1,
            "report_seq": record_id,
            "applied": [f"{record_id}:0"],
            "status": status,
            "dismissed": status in ("resolved", "ignored"),
            "resolved_at": seen if status == "resolved" else None,
            "status_changed_at": seen,
            "logs_captured": False,
        }
        if status != "resolved":
            doc["open_key"] = open_key(namespace, pod)
        return doc


async def find_all(col: AsyncCollection[Document], flt: Document) -> list[Document]:
    """Every document ``flt`` matches."""
    return await col.find(flt).to_list()


async def page_body(store: FailureStore, query: FailureQuery) -> int:
    """What failure-analyzer answers a list request with: the page, as JSON; rows."""
    docs, _ = await store.query(query, MAX_PAGE)
    msgspec.json.encode([to_api(d) for d in docs])
    return len(docs)


async def measure_size(
    store: FailureStore, db: AsyncDatabase[Document], filler: Filler, repeats: int, pid: int | None
) -> SizeResult:
    """Every figure at the current size."""
    last = (await db[COUNTERS].find_one({"_id": COLLECTION}) or {"seq": 0})["seq"]
    result = SizeResult(records=filler.written)
    col = db[COLLECTION]
    newest, _ = await store.query(FailureQuery(view="history", limit=MAX_PAGE), MAX_PAGE)
    for limit in LIMITS:
        docs = newest[:limit]
        window = resolved_window(docs)
        result.raw_range[limit] = await timed(functools.partial(find_all, col, window), repeats)
        body = msgspec.json.encode([to_api(d) for d in docs])
        encoding = await timed(functools.partial(serialise, docs), repeats)
        result.serialise[limit] = (encoding, len(body))
    for view in VIEWS:
        for namespace in (None, FILTERED):
            for depth, cursor in (("first", None), ("deep", str(last // 2))):
                for limit in LIMITS:
                    query = FailureQuery(view=view, namespace=namespace, limit=limit, cursor=cursor)
                    rows = await page_body(store, query)
                    window = resolved_window(newest[:rows])
                    if len(await col.find(window).to_list()) != rows:
                        raise BenchError(f"the raw range of {rows} records returned another count")
                    reps = repeats if limit <= 100 else max(5, repeats // 4)
                    page, raw = await interleaved(
                        functools.partial(page_body, store, query),
                        functools.partial(raw_page, col, window),
                        reps,
                    )
                    result.pages[(view, namespace or "-", depth, limit)] = PageFigure(
                        page, rows, raw
                    )
    writes = await record_costs(store, col, filler)
    result.record_new, result.record_repeat, result.find_one = writes
    counter = db[COUNTERS]
    reserve = await timed(lambda: mongo.reserve_ids(counter, "bench-scratch", 1), repeats)
    result.reserve_ids = reserve.p50
    result.sweep = await sweep_cost(db, last)
    result.rss_mb, result.peak_mb = memory_mb(pid)
    return result


def resolved_window(docs: list[Document]) -> Document:
    """A bounded ``(status, _id)`` range holding exactly ``docs`` (consecutive resolved
    records, newest first); an empty range when there are none."""
    if not docs:
        return {"status": "resolved", "_id": {"$gte": 0, "$lte": 0}}
    return {"status": "resolved", "_id": {"$gte": docs[-1]["_id"], "$lte": docs[0]["_id"]}}


async def serialise(docs: list[Document]) -> None:
    """A page's reply body from its records (``to_api`` + JSON)."""
    msgspec.json.encode([to_api(d) for d in docs])


async def raw_page(col: AsyncCollection[Document], window: Document) -> None:
    """The raw limit of a page: one bounded index range read, then its reply body."""
    await serialise(await col.find(window).to_list())


async def interleaved(
    call: Callable[[], Awaitable[object]], raw: Callable[[], Awaitable[object]], repeats: int
) -> tuple[Timing, Timing]:
    """``call`` and its raw limit, alternately (so both see the same machine load)."""
    await call()
    await raw()
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for target, into in ((call, samples[0]), (raw, samples[1])):
            started = time.perf_counter()
            await target()
            into.append(time.perf_counter() - started)
    return Timing(samples[0]), Timing(samples[1])


async def record_costs(
    store: FailureStore, col: AsyncCollection[Document], filler: Filler
) -> tuple[float, float, float]:
    """Seconds per ``record()`` of :data:`WRITES` new pods, then of one repeat report each,
    and of the raw indexed ``find_one`` by ``_id`` timed after each (same machine load)."""
    base = filler.written * 10 + 1_000_000
    envelopes = [
        FailureReportEnvelope(
            origin_seq=base + i,
            origin_us=int(time.time() * 1e6),
            report=msgspec.structs.replace(
                filler.pool[i % len(filler.pool)],
                pod_name=f"bench-write-{base + i}",
                namespace=NAMESPACES[i % len(NAMESPACES)],
            ),
        )
        for i in range(WRITES)
    ]
    solution = Solution(text=filler.solutions[0], source="offline")
    costs: list[float] = []
    lookups: list[float] = []
    for batch in (envelopes, [msgspec.structs.replace(e, index=1) for e in envelopes]):
        spent = 0.0
        for envelope in batch:
            started = time.perf_counter()
            _, doc = await store.record(envelope, solution)
            spent += time.perf_counter() - started
            started = time.perf_counter()
            await col.find_one({"_id": doc["_id"]})
            lookups.append(time.perf_counter() - started)
        costs.append(spent / len(batch))
    filler.written += WRITES
    return costs[0], costs[1], statistics.median(lookups)


async def sweep_cost(db: AsyncDatabase[Document], last: int) -> float:
    """Seconds of a retention sweep deleting 100 resolved records past retention, by a store
    that never swept (it walks from its origin)."""
    col = db[COLLECTION]
    old = utcnow() - timedelta(days=400)
    aged = 0
    record_id = last
    while aged < 100 and record_id > 0:
        result = await col.update_one(
            {"_id": record_id, "status": "resolved"}, {"$set": {"status_changed_at": old}}
        )
        aged += result.modified_count
        record_id -= 1
    store = FailureStore(db)
    started = time.perf_counter()
    deleted = await store.sweep("resolved", timedelta(days=365), 500)
    seconds = time.perf_counter() - started
    if deleted != aged:
        raise BenchError(f"the sweep deleted {deleted} records, {aged} were past retention")
    return seconds


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.1f}"


def size_table(result: SizeResult) -> list[str]:
    """The figures of one size."""
    lines = [f"--- {result.records:,} records ---"]
    lines.append(
        f"{'view':9} {'namespace':10} {'page':5} {'limit':>5} {'rows':>5}"
        f" {'p50 ms':>8} {'p99 ms':>8} {'raw p50':>8} {'p50 / raw':>10}"
    )
    for (view, namespace, depth, limit), fig in result.pages.items():
        lines.append(
            f"{view:9} {namespace:10} {depth:5} {limit:5} {fig.rows:5} {_ms(fig.timing.p50)}"
            f" {_ms(fig.timing.p99)} {_ms(fig.raw.p50)} {fig.timing.p50 / fig.raw.p50:10.2f}"
        )
    lines.append(
        "raw = one bounded (status, _id) range read of as many records as the page has, and"
        " their reply body, timed alternately with the page"
    )
    for limit in LIMITS:
        ser, size = result.serialise[limit]
        lines.append(
            f"raw limit, page of {limit}: bounded (status, _id) range p50"
            f" {_ms(result.raw_range[limit].p50)} ms,"
            f" serialise ({size / 1e6:.1f} MB) p50 {_ms(ser.p50)} ms"
        )
    lines.append(
        f"record(): new pod {_ms(result.record_new)} ms, repeat {_ms(result.record_repeat)} ms"
        f" per report; reserve_ids (counter find_one_and_update) {_ms(result.reserve_ids)} ms;"
        f" sweep of 100 past retention {_ms(result.sweep)} ms; raw find_one by _id"
        f" {_ms(result.find_one)} ms"
    )
    lines.append(f"SecantusDB RSS {result.rss_mb} MB (peak {result.peak_mb} MB)")
    return lines


def _page_p50(result: SizeResult, key: tuple[str, str, str, int]) -> float:
    return result.pages[key].timing.p50


def _page_raw_p50(result: SizeResult, key: tuple[str, str, str, int]) -> float:
    return result.pages[key].raw.p50


def flatness(results: Sequence[SizeResult]) -> list[str]:
    """Each size's cost over the first size's (1.00 = flat): as measured, and in units of
    the raw limit measured alternately with it (which cancels the machine's load changing
    between sizes): a page's p50 over its raw page, the writes and the sweep over the raw
    indexed ``find_one``. (A page with fewer rows at the first size than the limit, a rare
    status among 1 k records, compares as measured a partial page with a full one; the
    second figure does not, its raw limit reads as many rows as the page.)"""
    first = results[0]
    lines = [
        f"--- cost at each size / cost at {first.records:,} records (p50):"
        " as measured | in units of the same size's raw limit ---"
    ]
    lines.append(f"{'':42}" + "".join(f"{r.records:>16,}" for r in results))
    rows: list[tuple[str, Callable[[SizeResult], float], Callable[[SizeResult], float]]] = []
    for key in first.pages:
        view, namespace, depth, limit = key
        if limit == 100:
            label = f"page {view} ns={namespace} {depth} limit={limit}"
            rows.append(
                (
                    label,
                    functools.partial(_page_p50, key=key),
                    functools.partial(_page_raw_p50, key=key),
                )
            )
    rows += [
        ("record() new pod", _record_new, _find_one),
        ("record() repeat report", _record_repeat, _find_one),
        ("reserve_ids", _reserve_ids, _find_one),
        ("retention sweep of 100", _sweep, _find_one),
    ]
    for label, value, raw in rows:
        base, base_raw = value(first) or 1e-9, value(first) / (raw(first) or 1e-9) or 1e-9
        cells = [
            f"{value(r) / base:7.2f} |{value(r) / (raw(r) or 1e-9) / base_raw:6.2f}"
            for r in results
        ]
        lines.append(f"{label:42}" + "".join(f"{c:>16}" for c in cells))
    lines.append(
        "SecantusDB RSS MB (peak)                  "
        + "".join(f"{f'{r.rss_mb} ({r.peak_mb})':>16}" for r in results)
    )
    return lines


def _record_new(result: SizeResult) -> float:
    return result.record_new


def _record_repeat(result: SizeResult) -> float:
    return result.record_repeat


def _reserve_ids(result: SizeResult) -> float:
    return result.reserve_ids


def _sweep(result: SizeResult) -> float:
    return result.sweep


def _find_one(result: SizeResult) -> float:
    return result.find_one


async def bench(stack: Stack, sizes: Sequence[int], repeats: int, cache_size: str) -> str:
    """Fill and measure size after size; the report."""
    given = os.environ.get("BENCH_MONGODB_URL", "")
    pid: int | None = None
    if given:
        url = given
    else:
        port = free_port()
        storage = stack.root / "mongo" / "failure-pages"
        storage.parent.mkdir(parents=True, exist_ok=True)
        proc = stack.track(infra.mongo(port, storage, stack.logs, cache_size=cache_size))
        pid = proc.popen.pid if proc.popen is not None else None
        url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    say(f"generating {POOL} agent-shaped reports")
    pool = generate(POOL, repeat_share=0.0).reports
    results: list[SizeResult] = []
    async with mongo_client(url) as client:
        await client.drop_database(DB_NAME)
        db = client[DB_NAME]
        store = FailureStore(db)
        await store.ensure_indexes()
        filler = Filler(db, pool)
        for size in sizes:
            if size > filler.written:
                count = size - filler.written
                seconds = await filler.fill(count)
                say(f"wrote {count:,} records in {seconds:.1f} s ({count / seconds:,.0f}/s)")
            say(f"measuring at {filler.written:,} records")
            results.append(await measure_size(store, db, filler, repeats, pid))
            say("\n".join(size_table(results[-1])))
        await client.drop_database(DB_NAME)
    where = "external MongoDB" if given else f"SecantusDB on disk, --cache-size {cache_size}"
    lines = [
        "Failed-pod pages and writes as the store grows",
        *machine_info(f"secantusdb {version('secantusdb')}, pymongo {version('pymongo')}"),
        f"database  {where}; {POOL} distinct generated reports, records ~7 KB",
        "pages: FailureStore.query + to_api + JSON encoding (failure-analyzer's list reply), "
        f"{repeats} calls (limit 100) / {max(5, repeats // 4)} (limit 1000) after a warm-up",
        "",
    ]
    for result in results:
        lines += [*size_table(result), ""]
    lines += flatness(results)
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.failure_pages", description=__doc__)
    parser.add_argument(
        "--records",
        default="1000,10000,100000",
        help="comma-separated store sizes to measure at, ascending (default: %(default)s)",
    )
    parser.add_argument(
        "--repeats", type=int, default=40, help="calls per limit-100 page (default: %(default)s)"
    )
    parser.add_argument(
        "--cache-size",
        default=infra.MONGO_CACHE_SIZE,
        help="SecantusDB's WiredTiger cache (default: devstack's, %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; the exit code."""
    args = parse_args(argv)
    sizes = sorted(int(s) for s in args.records.split(","))
    return common.run(
        "kubeward-bench-failure-pages-",
        lambda stack: asyncio.run(bench(stack, sizes, args.repeats, args.cache_size)),
        scratch=("mongo",),
    )


if __name__ == "__main__":
    sys.exit(main())
