"""Faults at scale: pod traffic published while ingest, traffic-store, nats-server and the
database are killed and restarted; is every accepted event stored exactly once?

Run by ``make bench`` (``uv run --no-sync python -m bench.faults [--events 100000]``).

It starts its own nats-server and SecantusDB (both on disk, so a restart keeps their data)
and ingest and traffic-store as processes, then publishes ``--events`` kguardian events
(``kubeward.devstack.traffic_events``' generator, 30 % repeat sightings, 100 per message,
each message with its own ``Nats-Msg-Id``, retried until acknowledged) in phases. After each
phase, once half of it is stored (so the fault strikes mid-stream), one fault after the
other: ``kill -9`` of traffic-store, of ingest, of traffic-store again, of ingest again
(each restarted at once), a SIGTERM and restart of nats-server (same store), and a ``kill
-9`` and restart of SecantusDB. The last phase runs after the last fault.

Then it waits until MongoDB holds every acknowledged event and prints what a user would
check: one document per distinct flow, ``sum(hits)`` equal to the events acknowledged, every
new flow announced once on the feed (``kubeward.feed.pod_traffic`` messages in ``FEED``
equal to the distinct flows), nothing dead-lettered, and how long the store took to drain
after the last publish. It asserts nothing; a mismatch is printed as ``MISMATCH`` and makes the
run exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable, Sequence

import nats
from nats.js import JetStreamContext

from bench.common import (
    BenchError,
    Stack,
    consumer_state,
    last_seq,
    machine_info,
    mongo_client,
    run,
    say,
    service_env,
    stream_messages,
    subject_count,
    version,
)
from bench.ingest import INGEST_DURABLE, STORE_DURABLE, stored_totals
from kubeward.devstack import infra
from kubeward.devstack.procs import Proc, free_port
from kubeward.devstack.traffic_events import generate
from kubeward.schemas import bus

SERVICES = ("ingest", "traffic_store")
DB_NAME = "kubeward_faults"


class Servers:
    """nats-server and SecantusDB on fixed ports and stores, restartable."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.nats_port, self.mongo_port = free_port(), free_port()
        self.nats = self._nats()
        self.mongo = self._mongo()

    def _nats(self) -> Proc:
        return self.stack.track(
            infra.nats(self.nats_port, self.stack.root / "jetstream", self.stack.logs)
        )

    def _mongo(self) -> Proc:
        return self.stack.track(
            infra.mongo(self.mongo_port, self.stack.root / "mongo", self.stack.logs)
        )

    @property
    def nats_url(self) -> str:
        """The server's URL (the same across restarts)."""
        return f"nats://127.0.0.1:{self.nats_port}"

    @property
    def mongo_url(self) -> str:
        """The database's URL (the same across restarts)."""
        return f"mongodb://127.0.0.1:{self.mongo_port}/?directConnection=true"

    def restart_nats(self) -> None:
        """SIGTERM, wait, start again on the same store."""
        self.nats.stop()
        self.nats = self._nats()

    def crash_mongo(self) -> None:
        """kill -9, start again on the same store."""
        self.mongo.kill()
        self.mongo = self._mongo()


async def publish(js: JetStreamContext, messages: Sequence[bytes], first: int) -> None:
    """Publish ``messages`` (ids ``first``…) as a collector does: each retried until acked."""
    for offset, data in enumerate(messages):
        while True:  # a publish in flight while the server restarts gets no ack
            try:
                await js.publish(
                    bus.COLLECT_POD_TRAFFIC,
                    data,
                    headers={bus.HDR_MSG_ID: f"faults-{first + offset}"},
                    timeout=5,
                )
                break
            except Exception:
                await asyncio.sleep(0.2)


async def drained(js: JetStreamContext) -> bool:
    """Whether ingest and traffic-store have acked everything sent to them."""
    for stream, durable in ((bus.COLLECT.name, INGEST_DURABLE), (bus.TRAFFIC.name, STORE_DURABLE)):
        _floor, pending, ack_pending = await consumer_state(js, stream, durable)
        if pending or ack_pending:
            return False
    return True


async def settle(
    js: JetStreamContext, mongo_url: str, events: int, timeout: float, poll: float = 2.0
) -> tuple[int, int, float]:
    """Wait until ``pod_traffic`` holds ``events`` hits (``timeout`` at most): (hits,
    documents, seconds); -1 for what could not be read.

    The sum of hits is an aggregate over every flow (a scan on SecantusDB): it is read
    every ``poll`` seconds, and only once both consumers are drained when ``events`` is
    everything published, so the measuring does not slow down what it measures.
    """
    started = time.monotonic()
    hits = docs = 0
    last_say = started
    async with mongo_client(mongo_url) as client:
        col = client[DB_NAME]["pod_traffic"]
        while time.monotonic() - started < timeout:
            try:
                if await drained(js) or events < 0:
                    hits, docs = await stored_totals(col)
            except Exception:  # the database or the server is coming back
                hits = docs = -1
            if hits >= abs(events):
                break
            if time.monotonic() - last_say > 30:
                last_say = time.monotonic()
                feed = await subject_count(js, bus.FEED.name, bus.feed_subject("pod_traffic"))
                _floor, pending, held = await consumer_state(js, bus.TRAFFIC.name, STORE_DURABLE)
                say(
                    f"waiting: traffic-store has {pending} TRAFFIC messages to go and "
                    f"{held} in hand; {feed:,} flows announced"
                )
            await asyncio.sleep(poll)
    return hits, docs, time.monotonic() - started


async def unannounced(js: JetStreamContext, mongo_url: str) -> list[int]:
    """``created_seq`` (``TRAFFIC`` sequence) of every stored flow with no feed event.

    Reads every ``pod_traffic`` feed event's ``Nats-Msg-Id`` (``pod-traffic-<seq>-<key>``)
    and every flow document's ``_id`` and ``created_seq``.
    """
    announced: set[str] = set()
    sub = await js.pull_subscribe(bus.feed_subject("pod_traffic"), stream=bus.FEED.name)
    try:
        while True:
            try:
                msgs = await sub.fetch(1000, timeout=2)
            except TimeoutError:
                break
            for msg in msgs:
                msg_id = (msg.headers or {}).get(bus.HDR_MSG_ID, "")
                announced.add(msg_id.split("-", 3)[-1])
                await msg.ack()
    finally:
        await sub.unsubscribe()
    missing: list[int] = []
    async with mongo_client(mongo_url) as client:
        col = client[DB_NAME]["pod_traffic"]
        async for doc in col.find({}, {"created_seq": 1}):
            if doc["_id"] not in announced:
                missing.append(int(doc["created_seq"]))
    return sorted(missing)


async def announcements(js: JetStreamContext, distinct: int, timeout: float) -> tuple[int, float]:
    """Wait until ``FEED`` holds one ``pod_traffic`` event per distinct flow (``timeout``
    at most): (events, seconds waited). A new flow is announced after its write, so the
    last ones may follow the stored hits by a moment."""
    started = time.monotonic()
    subject = bus.feed_subject("pod_traffic")
    while True:
        count = await subject_count(js, bus.FEED.name, subject)
        waited = time.monotonic() - started
        if count >= distinct or waited > timeout:
            return count, waited
        await asyncio.sleep(0.5)


def spread(seqs: Sequence[int], marks: Sequence[tuple[str, int]]) -> str:
    """How many of ``seqs`` fall before the first mark, between marks, after the last."""
    parts: list[str] = []
    low = 0
    for label, high in marks:
        parts.append(f"{sum(low < s <= high for s in seqs):,} up to {label} (seq {high:,})")
        low = high
    parts.append(f"{sum(s > low for s in seqs):,} after")
    return "; ".join(parts)


async def soak_faults(stack: Stack, args: argparse.Namespace) -> str:
    """Publish in phases with a fault between each; report what was stored."""
    workload = generate(args.events, 100, 0.3)
    servers = Servers(stack)
    env = service_env(servers.nats_url, servers.mongo_url, DB_NAME)
    services = stack.start_services(env, SERVICES, timeout=90)

    def crash(name: str) -> Callable[[], None]:
        def do() -> None:
            services.kill(name)
            services.start(name, wait=False)

        return do

    faults: list[tuple[str, Callable[[], None]]] = [
        ("kill -9 traffic-store", crash("traffic_store")),
        ("kill -9 ingest", crash("ingest")),
        ("kill -9 traffic-store", crash("traffic_store")),
        ("kill -9 ingest", crash("ingest")),
        ("restart nats-server", servers.restart_nats),
        ("kill -9 SecantusDB", servers.crash_mongo),
    ]
    phases = len(faults) + 1
    size = -(-len(workload.messages) // phases)
    nc = await nats.connect(servers.nats_url, max_reconnect_attempts=-1, connect_timeout=10)
    js = nc.jetstream()
    lines: list[str] = []
    marks: list[tuple[str, int]] = []
    started = time.monotonic()
    for phase in range(phases):
        first = phase * size
        await publish(js, workload.messages[first : first + size], first)
        # The fault strikes mid-stream: once part of this phase is stored, not before.
        half = (first + size // 2) * 100
        stored, _docs, _took = await settle(js, servers.mongo_url, -half, 60)
        if phase < len(faults):
            what, fault = faults[phase]
            say(f"phase {phase + 1}: {stored:,} events stored; {what}")
            marks.append((what, await last_seq(js, bus.TRAFFIC.name)))
            await asyncio.to_thread(fault)
            lines.append(what)
    for name in SERVICES:  # every service back (a restarted one may still be starting)
        await asyncio.to_thread(services.wait_healthy, name, 120)
    hits, docs, drain = await settle(js, servers.mongo_url, workload.events, args.timeout)
    announced, lag = await announcements(js, workload.distinct, args.timeout)
    dead = await stream_messages(js, bus.DEADLETTER.name)
    missing = await unannounced(js, servers.mongo_url) if announced != workload.distinct else []
    await nc.close()
    total = time.monotonic() - started
    checks = [
        ("documents = distinct flows", docs, workload.distinct),
        ("sum(hits) = events acknowledged", hits, workload.events),
        ("pod_traffic feed events = distinct flows", announced, workload.distinct),
        ("dead letters", dead, 0),
    ]
    report = [
        *machine_info(f"secantusdb {version('secantusdb')}"),
        f"faults    N={workload.events} events ({workload.distinct} distinct flows) in "
        f"{len(workload.messages)} messages, {phases} phases; between them: " + ", ".join(lines),
        f"time      {total:.0f} s from the first publish until every event was stored "
        f"({workload.events / total:,.0f} events/s through the faults); the store drained "
        f"{drain:.1f} s after the last publish, and announced the last new flow {lag:.1f} s "
        "after storing every event",
        "",
    ]
    failed = False
    for label, got, want in checks:
        ok = got == want
        failed |= not ok
        report.append(f"  {label:<42} {got:>10,}  {'ok' if ok else f'MISMATCH (want {want:,})'}")
    if missing:
        report.append(f"  flows never announced, by TRAFFIC sequence: {spread(missing, marks)}")
        report.append(f"  first ones: {missing[:20]}")
    if failed:
        raise BenchError("\n".join(report))
    return "\n".join(report)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds to wait for every event stored"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Start everything, inject the faults, print the checks."""
    args = parse_args(argv)

    def body(stack: Stack) -> str:
        return asyncio.run(soak_faults(stack, args))

    return run("kubeward-faults-", body)


if __name__ == "__main__":
    raise SystemExit(main())
