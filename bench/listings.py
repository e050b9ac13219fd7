"""Listing benchmark: pages of security findings, pod traffic and HTTP traffic as data grows.

Run by ``make bench`` (``uv run --no-sync python -m bench.listings`` from the repository
root; ``--help`` lists every option). Default sizes: 1 k and 100 k findings, 10 k and
100 k flows, 10 k and 100 k HTTP traffic records; ``--big`` adds 1 M flows and 1 M HTTP
records (filling them takes a quarter of an hour each on SecantusDB, and needs
``--mongo-disk``: SecantusDB in memory stopped with ``WT_CACHE_FULL`` before 1 M flows).

For each size it starts a fresh SecantusDB (``BENCH_MONGODB_URL`` points it at a MongoDB
of yours instead) and fills it with ``insert_many`` of documents shaped exactly as the
owning service stores them (made by :mod:`kubeward.devstack.stored_documents`, which the
services' tests use too: ``security_findings`` with its id counter;
``pod_traffic`` flows with their recorded time span; ``http_traffic`` records with their
``lk`` list key and the source's counter, under a source created through the service), the
times spread over one day. Then it times, in this process, what the owning service does
for one listing request (the store's query and the reply's bytes; the gateway's HTTP and
NATS hop are not included, see ``bench.gateway`` for those):

- ``/api/security/findings`` (active findings; all findings; one severity; one resource;
  a namespace with none), page 1 and a keyset page from the middle, at limit 100 and 1000;
- ``/pod/traffic`` (everything; one pod of 500, i.e. a sparse filter; ``decision=DROP``,
  one flow in 1000; ``traffic_type=EGRESS``, one in three), page 1 and a cursor page from
  the middle;
- ``/http-traffic/{id}`` page 1, a cursor page from the middle, ``?page=10``, ``?page=50``
  and a ``level`` filter matching one record in eight, and the plural ``/http-traffics``
  page 1 and page 10.

Each is called ``--calls`` times on a fresh store (so the first call has no remembered
density) and reported as p50/p99, next to the raw limit measured in the same run on the
same database: a bounded range on the indexed time key holding as many documents as the
page, plus serialising the page's rows to JSON with msgspec. It prints ratios; it never
asserts a timing. Every process it starts is stopped on exit, error, Ctrl-C or SIGTERM
(see :mod:`bench.common`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from pymongo.asynchronous.database import AsyncDatabase

from bench import common
from bench.common import FreshMongo, Stack, machine_info, mongo_client, say, version
from bench.latency import quantile, timed_calls
from kubeward.core.mongo import insert_new
from kubeward.devstack.infra import MONGO_CACHE_SIZE
from kubeward.devstack.stored_documents import (
    Document,
    finding_docs,
    flow_docs,
    http_exchanges,
    http_records,
    http_world,
    rare_flow_copies,
    stamp,
)
from kubeward.schemas.arkyn import ArkynCommand
from kubeward.schemas.http_traffic import HttpTraffic, HttpTrafficQuery
from kubeward.schemas.replies import Reply
from kubeward.schemas.security import FindingQuery, SecurityFinding
from kubeward.schemas.traffic import PodTrafficEvent, PodTrafficQuery
from kubeward.security.store import FindingStore, to_api
from kubeward.traffic_store import http_counters
from kubeward.traffic_store.http_entities import HttpEntities
from kubeward.traffic_store.http_plural import PluralApi
from kubeward.traffic_store.http_traffic import HttpTrafficStore, traffic_document
from kubeward.traffic_store.pod_traffic import PodTrafficStore, encode_cursor

BATCH = 5000


@dataclass
class Timing:
    """One listing case: its latencies and its raw limit."""

    what: str
    rows: int
    p50: float
    p99: float
    raw: float
    encode: float

    def line(self) -> str:
        """The report line: ms, and the ratio to the raw limit."""
        limit = self.raw + self.encode
        ratio = self.p50 / limit if limit > 0 else float("inf")
        return (
            f"  {self.what:<44} {self.rows:>5} rows  p50 {self.p50 * 1e3:7.1f} ms"
            f"  p99 {self.p99 * 1e3:7.1f} ms  | raw range {self.raw * 1e3:6.1f} ms"
            f" + encode {self.encode * 1e3:5.1f} ms  -> {ratio:4.1f}x"
        )


def p50_p99(times: Sequence[float]) -> tuple[float, float]:
    """Median and 99th percentile (:func:`~bench.latency.quantile`)."""
    return statistics.median(times), quantile(times, 0.99)


async def fill(db: AsyncDatabase[Document], name: str, docs: list[Document]) -> None:
    """Bulk insert ``docs`` into ``name``; a batch the driver retried after it was stored
    (a slow server at 1 M documents) reports duplicates, which are the rows themselves."""
    for first in range(0, len(docs), BATCH):
        await insert_new(db[name], docs[first : first + BATCH])
    stored = await db[name].estimated_document_count()
    if stored != len(docs):
        raise common.BenchError(f"{name}: {stored} of {len(docs)} documents stored")


async def raw_range(
    db: AsyncDatabase[Document], name: str, field: str, lo: Any, hi: Any, calls: int
) -> tuple[float, list[Document]]:
    """Median time of the bounded range ``lo < field <= hi`` (indexed) and its documents."""
    times, docs = await timed_calls(
        lambda: db[name].find({field: {"$gt": lo, "$lte": hi}}).to_list(), calls
    )
    return statistics.median(times), docs


def encode_time(value: object, calls: int) -> float:
    """Median time of msgspec-encoding ``value`` to JSON."""
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        msgspec.json.encode(value)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def rows_of(reply: Reply) -> int:
    """Rows in a listing reply's body (a list, or arkyn's ``{"data": [...]}``)."""
    body = msgspec.json.decode(reply.body)
    return len(body["data"] if isinstance(body, dict) else body)


# --- Security findings --------------------------------------------------------


async def findings_cases(
    db: AsyncDatabase[Document], n: int, calls: int, rng: random.Random
) -> list[Timing]:
    """Fill ``n`` findings and time their listings."""
    store = FindingStore(db)
    await store.ensure_indexes()
    await fill(db, "security_findings", finding_docs(n, rng))
    await db["security_counters"].update_one({"_id": "security_findings"}, {"$set": {"seq": n}})
    out = []
    for limit in (100, 1000):
        raw, docs = await _dismissed_range(db, n, limit, calls)
        encode = encode_time([to_api(d) for d in docs], calls)
        for what, query in (
            ("findings: active, page 1", FindingQuery(limit=limit)),
            ("findings: active, from the middle", FindingQuery(limit=limit, cursor=str(n // 2))),
            ("findings: all (dismissed too), page 1", FindingQuery(limit=limit, dismissed=None)),
            ("findings: severity=critical, page 1", FindingQuery(limit=limit, severity="critical")),
            ("findings: one resource (1 of n)", FindingQuery(limit=limit, resource_name="app-7")),
            ("findings: a namespace with none", FindingQuery(limit=limit, namespace="nowhere")),
        ):
            fresh = FindingStore(db)

            async def call(q: FindingQuery = query, s: FindingStore = fresh) -> bytes:
                docs, _next = await s.query(q, 20000)
                return msgspec.json.encode([to_api(d) for d in docs])

            times, body = await timed_calls(call, calls)
            rows = len(msgspec.json.decode(body, type=list[SecurityFinding]))
            out.append(Timing(what, rows, *p50_p99(times), raw, encode))
            say(out[-1].line())
    return out


async def _dismissed_range(
    db: AsyncDatabase[Document], n: int, limit: int, calls: int
) -> tuple[float, list[Document]]:
    """The raw limit of a findings page: an (equality, bounded range) read of ``limit``
    active findings on the ``(dismissed, _id)`` index."""
    span = limit + limit // 9 + 1  # one in ten is dismissed
    col = db["security_findings"]
    find = {"dismissed": False, "_id": {"$gt": n - span, "$lte": n}}
    times, docs = await timed_calls(lambda: col.find(find).to_list(), calls)
    return statistics.median(times), docs[:limit]


# --- Pod traffic --------------------------------------------------------------


async def traffic_cases(
    db: AsyncDatabase[Document], m: int, calls: int, rng: random.Random
) -> list[Timing]:
    """Fill ``m`` flows and time their listings."""
    store = PodTrafficStore(db["pod_traffic"], 32768)
    await store.ensure_indexes()
    docs, offsets = flow_docs(m, rng)
    await fill(db, "pod_traffic", docs)
    await fill(db, "pod_traffic_rare", rare_flow_copies(docs))
    await store.widen_span(stamp(offsets[-1]), stamp(offsets[0]))
    middle = docs[m // 2]
    cursor = encode_cursor(middle["time_stamp"], middle["uuid"])
    out = []
    for limit in (100, 1000):
        if limit >= m:
            continue
        lo, hi = stamp(offsets[limit]), stamp(offsets[0])
        raw, got = await raw_range(db, "pod_traffic", "time_stamp", lo, hi, calls)
        encode = encode_time(msgspec.convert(got, list[PodTrafficEvent]), calls)
        for what, query in (
            ("pod traffic: all, page 1", PodTrafficQuery(limit=limit)),
            ("pod traffic: all, from the middle", PodTrafficQuery(limit=limit, cursor=cursor)),
            ("pod traffic: one pod of 500, page 1", PodTrafficQuery(limit=limit, pod_name="pod-7")),
            (
                "pod traffic: DROP (1 in 1000), page 1",
                PodTrafficQuery(limit=limit, decision="DROP"),
            ),
            (
                "pod traffic: EGRESS (1 in 3), page 1",
                PodTrafficQuery(limit=limit, traffic_type="EGRESS"),
            ),
        ):
            fresh = PodTrafficStore(db["pod_traffic"], 32768)

            async def call(q: PodTrafficQuery = query, s: PodTrafficStore = fresh) -> Reply:
                return await s.query(q, 20000)

            times, reply = await timed_calls(call, calls)
            out.append(Timing(what, rows_of(reply), *p50_p99(times), raw, encode))
            say(out[-1].line())
    return out


# --- HTTP traffic -------------------------------------------------------------


EXCHANGES = 2000
"""Distinct (request, response) pairs the records cycle through: every row of a page up to
that size has its own, as in real traffic (the plural list reads each row's)."""


def http_docs(
    h: int, ids: dict[str, str], rng: random.Random, exchanges: Sequence[tuple[str, str]] = ()
) -> tuple[list[Document], list[int]]:
    """``h`` records as :class:`HttpTrafficStore` stores them, and their times (Unix us)."""
    records, origins = http_records(h, ids, rng, exchanges)
    return [traffic_document(r, o) for r, o in zip(records, origins, strict=True)], origins


async def http_cases(
    db: AsyncDatabase[Document], h: int, calls: int, rng: random.Random
) -> list[Timing]:
    """Fill ``h`` HTTP traffic records and time their listings."""
    entities = HttpEntities(db)
    await entities.ensure_indexes()
    await HttpTrafficStore(db["http_traffic"], entities).ensure_indexes()
    ids = await http_world(entities.create)
    exchanges = await http_exchanges(entities.create, min(h, EXCHANGES))
    docs, _origins = http_docs(h, ids, rng, exchanges)
    await fill(db, "http_traffic", docs)
    times_ = [d["ts"] for d in docs]
    await entities.counters.add_times(http_counters.traffic(ids["source"]), times_)
    middle = docs[h // 2]
    cursor = encode_cursor(middle["ts"], middle["id"])
    source = ids["source"]
    out = []
    for limit in (100, 1000):
        if limit >= h:
            continue
        lo, hi = f"{source}|{docs[limit]['ts']}|", f"{source}|{docs[0]['ts']}|\x7f"
        raw, got = await raw_range(db, "http_traffic", "lk", lo, hi, calls)
        encode = encode_time(
            {"data": msgspec.convert(got, list[HttpTraffic]), "meta": {"total": h}}, calls
        )
        q = HttpTrafficQuery(traffic_source_id=source, limit=limit)
        plural = ArkynCommand(kind="http-traffics", action="list", parent=source, page_limit=limit)
        cases: list[tuple[str, HttpTrafficQuery | ArkynCommand]] = [
            ("http-traffic: page 1", q),
            ("http-traffic: cursor from the middle", msgspec.structs.replace(q, cursor=cursor)),
            ("http-traffic: ?page=10", msgspec.structs.replace(q, page=10)),
            ("http-traffic: ?page=50", msgspec.structs.replace(q, page=50)),
            (
                "http-traffic: level=FATAL (1 in 8), page 1",
                msgspec.structs.replace(q, level="FATAL"),
            ),
            ("/http-traffics (plural): page 1", plural),
            ("/http-traffics (plural): page 10", msgspec.structs.replace(plural, page=10)),
            (
                "/http-traffic-records (composed): page 1",
                msgspec.structs.replace(plural, kind="http-traffic-records"),
            ),
        ]
        for what, ask in cases:
            fresh = HttpTrafficStore(db["http_traffic"], HttpEntities(db))
            api = PluralApi(fresh, db["http_traffic"])

            async def call(
                a: HttpTrafficQuery | ArkynCommand = ask,
                s: HttpTrafficStore = fresh,
                p: PluralApi = api,
            ) -> Reply:
                return await (s.query(a, 20000) if isinstance(a, HttpTrafficQuery) else p(a))

            times, reply = await timed_calls(call, calls)
            if not reply.ok:
                raise common.BenchError(f"{what}: {reply.status} {reply.detail}")
            out.append(Timing(what, rows_of(reply), *p50_p99(times), raw, encode))
            say(out[-1].line())
    return out


# --- Main ---------------------------------------------------------------------


async def measure(
    url: str,
    fill_and_time: Callable[
        [AsyncDatabase[Document], int, int, random.Random], Awaitable[list[Timing]]
    ],
    size: int,
    calls: int,
    seed: int,
) -> list[Timing]:
    """Fill a database of ``url`` at ``size`` and time its listings."""
    async with mongo_client(url) as client:
        db = client[f"kw_bench_list_{size}"]
        try:
            return await fill_and_time(db, size, calls, random.Random(seed))
        finally:
            await client.drop_database(db.name)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--findings", type=int, nargs="+", default=[1000, 100_000], help="sizes; 0 skips"
    )
    parser.add_argument("--flows", type=int, nargs="+", default=[10_000, 100_000], help="sizes")
    parser.add_argument("--http", type=int, nargs="+", default=[10_000, 100_000], help="sizes")
    parser.add_argument(
        "--big", action="store_true", help="add 1 M flows and 1 M HTTP records (use --mongo-disk)"
    )
    parser.add_argument(
        "--calls",
        type=int,
        default=20,
        help="calls per case (p50/p99 of them)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--mongo-disk", action="store_true", help="SecantusDB on disk")
    args = parser.parse_args(argv)
    if args.big:
        args.flows = [*args.flows, 1_000_000]
        args.http = [*args.http, 1_000_000]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Fill, measure, print the table, stop everything."""
    args = parse_args(argv)

    def body(stack: Stack) -> str:
        # In memory the WiredTiger cache holds every document and index entry: 100 k
        # findings with their facet index do not fit the 256 MB that make run gives.
        cache = MONGO_CACHE_SIZE if args.mongo_disk else "1G"
        fresh_mongo = FreshMongo(
            stack, os.environ.get("BENCH_MONGODB_URL", ""), args.mongo_disk, cache_size=cache
        )
        sections: list[str] = []
        plan: list[tuple[str, Any, list[int]]] = [
            ("findings", findings_cases, args.findings),
            ("flows", traffic_cases, args.flows),
            ("HTTP traffic records", http_cases, args.http),
        ]
        for label, case, sizes in plan:
            for size in (s for s in sizes if s > 0):  # 0 skips a kind
                say(f"{size} {label}: filling and timing ...")
                timings = asyncio.run(measure(fresh_mongo(), case, size, args.calls, args.seed))
                sections.append(f"{size:,} {label}:")
                sections += [t.line() for t in timings]
        header = machine_info(
            f"pymongo {version('pymongo')}, msgspec {version('msgspec')}; "
            f"MongoDB: {fresh_mongo.kind}"
        )
        return "\n".join(
            [
                *header,
                f"p50/p99 of {args.calls} calls each, the first on a fresh store; raw = a "
                "bounded indexed range of the page's size + msgspec JSON of its rows",
                *sections,
            ]
        )

    return common.run("kubeward-bench-list-", body, me="bench", scratch=("mongo",))


if __name__ == "__main__":
    sys.exit(main())
