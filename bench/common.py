"""What the benchmarks share: the processes they start (and always stop), a fresh SecantusDB
per measurement, CPU accounting, pipelined JetStream publishing (in the background too) and its
raw limit, the raw MongoDB write limit, durable consumer state, ratio lines, the machine
description and the ``main`` skeleton.

Every benchmark runs inside :func:`run`: a temporary directory, a :class:`Stack` that stops
every server and service it started on exit, error, Ctrl-C or SIGTERM, and any direct
child left behind reaped by pid (never by name).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import math
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from kubeward.devstack import infra
from kubeward.devstack.procs import Proc, find_binary, free_port
from kubeward.devstack.services import ServiceSet, pick_ports
from kubeward.schemas import bus

_T0 = time.monotonic()

Document = dict[str, Any]
T = TypeVar("T")


class BenchError(RuntimeError):
    """The benchmark could not complete; the message says what was seen."""


def say(text: str) -> None:
    """A progress line, with the seconds since start."""
    print(f"[{time.monotonic() - _T0:5.1f} s] {text}", flush=True)


# --- Measurements -------------------------------------------------------------


@dataclass
class Figure:
    """One measured rate."""

    label: str
    items: int
    seconds: float
    unit: str = "events"

    @property
    def rate(self) -> float:
        """Items per second."""
        return self.items / self.seconds if self.seconds > 0 else float("inf")


@contextlib.asynccontextmanager
async def nats_client(url: str, name: str) -> AsyncIterator[NATS]:
    """A NATS connection named ``name`` for the block."""
    nc: NATS = await nats.connect(url, name=name)
    try:
        yield nc
    finally:
        await nc.close()


async def publish_all(
    js: JetStreamContext, subject: str, stream: str, messages: Sequence[bytes], timeout: float
) -> tuple[float, int]:
    """Publish every message with ``publish_async``; check each PubAck.

    How many are in flight at once is the context's ``publish_async_max_pending``. Returns
    the seconds from the first publish to the last ack, and the highest stream sequence
    acknowledged.
    """
    started = time.perf_counter()
    futures = [await js.publish_async(subject, payload) for payload in messages]
    acks = await asyncio.wait_for(asyncio.gather(*futures), timeout)
    elapsed = time.perf_counter() - started
    bad = [a for a in acks if a.stream != stream or a.seq is None or a.duplicate]
    if bad:
        raise BenchError(f"{len(bad)} of {len(acks)} PubAcks are not for {stream}: {bad[0]!r}")
    return elapsed, max(int(a.seq) for a in acks)


SCRATCH_STREAM = "BENCH_SCRATCH"
SCRATCH_SUBJECT = "bench.scratch"


@contextlib.asynccontextmanager
async def scratch_stream(js: JetStreamContext) -> AsyncIterator[None]:
    """:data:`SCRATCH_STREAM` on :data:`SCRATCH_SUBJECT`, new and without consumers, for the
    block; deleted afterwards."""
    with contextlib.suppress(NotFoundError):
        await js.delete_stream(SCRATCH_STREAM)
    await js.add_stream(StreamConfig(name=SCRATCH_STREAM, subjects=[SCRATCH_SUBJECT]))
    try:
        yield
    finally:
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(SCRATCH_STREAM)


async def scratch_publish(
    js: JetStreamContext, messages: Sequence[bytes], timeout: float, label: str, unit: str
) -> Figure:
    """The raw publish limit: ``messages`` to a scratch stream without consumers, with
    :func:`publish_all`; the stream is deleted afterwards."""
    async with scratch_stream(js):
        seconds, _last = await publish_all(js, SCRATCH_SUBJECT, SCRATCH_STREAM, messages, timeout)
    return Figure(label, len(messages), seconds, unit=unit)


async def publish_limit(
    nats_url: str,
    in_flight: int,
    messages: Sequence[bytes],
    timeout: float,
    label: str,
    unit: str,
) -> Figure:
    """:func:`scratch_publish` on a connection of its own, ``in_flight`` acks outstanding."""
    async with nats_client(nats_url, "bench-raw") as nc:
        js = nc.jetstream(publish_async_max_pending=in_flight)
        return await scratch_publish(js, messages, timeout, label, unit)


class Publisher:
    """:func:`publish_all` in a background task for an ``async with`` block, which polls
    while it runs; the task is cancelled when the block ends before it does."""

    def __init__(
        self,
        js: JetStreamContext,
        subject: str,
        stream: str,
        messages: Sequence[bytes],
        timeout: float,
    ) -> None:
        self._publish = publish_all(js, subject, stream, messages, timeout)
        self.started = 0.0
        """``time.perf_counter()`` at the start of the block (the first publish)."""
        self.published = 0.0
        """Seconds from the start to the last PubAck (0 until then)."""
        self.last = 0
        """The highest stream sequence acknowledged (0 until every PubAck is in)."""
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        _seconds, self.last = await self._publish
        self.published = time.perf_counter() - self.started

    def check(self) -> None:
        """Raise what the publishing raised, if it failed."""
        if self._task is not None and self._task.done():
            self._task.result()

    async def __aenter__(self) -> Publisher:
        self.started = time.perf_counter()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task


async def consumer_state(js: JetStreamContext, stream: str, durable: str) -> tuple[int, int, int]:
    """(ack floor stream sequence, pending, ack pending) of a durable consumer."""
    info = await js.consumer_info(stream, durable)
    floor = int(info.ack_floor.stream_seq or 0) if info.ack_floor is not None else 0
    return floor, int(info.num_pending or 0), int(info.num_ack_pending or 0)


async def subject_count(js: JetStreamContext, stream: str, subject: str) -> int:
    """Messages ``stream`` holds on ``subject``."""
    info = await js.stream_info(stream, subjects_filter=subject)
    return int((info.state.subjects or {}).get(subject, 0))


@dataclass
class Drain:
    """How far ingest (its durable on COLLECT) and the service it feeds (``durable`` on
    ``stream``) are, read from JetStream; times in seconds from the first publish."""

    ingest_durable: str
    stream: str
    durable: str
    name: str
    """The service, for the samples."""
    ingest: float | None = None
    """When ingest had acked every published message."""
    forwarded: int = 0
    """Messages ingest had forwarded to ``stream`` by then."""
    service: float | None = None
    """When the service had acked all of those too."""

    @property
    def durables(self) -> tuple[tuple[str, str], ...]:
        """(stream, durable) of both consumers."""
        return ((bus.COLLECT.name, self.ingest_durable), (self.stream, self.durable))

    async def poll(self, js: JetStreamContext, published_last: int, now: float) -> str:
        """Read both consumers at ``now``; ``published_last`` is the last COLLECT sequence
        published (0 while PubAcks are outstanding). Returns their state for a sample line."""
        ingest_floor, ingest_pending, ingest_acks = await consumer_state(
            js, bus.COLLECT.name, self.ingest_durable
        )
        floor, pending, acks = await consumer_state(js, self.stream, self.durable)
        last = await last_seq(js, self.stream)
        if self.ingest is None and published_last and ingest_floor >= published_last:
            self.ingest = now
            self.forwarded = last
        if self.ingest is not None and self.service is None and floor >= last:
            self.service = now
        return (
            f"ingest pending={ingest_pending} unacked={ingest_acks}  "
            f"{self.name} pending={pending} unacked={acks}"
        )


async def redeliveries(js: JetStreamContext, durables: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Redelivered messages still unacked, by durable, for each (stream, durable)."""
    found: dict[str, int] = {}
    for stream, durable in durables:
        info = await js.consumer_info(stream, durable)
        found[durable] = int(info.num_redelivered or 0)
    return found


async def last_seq(js: JetStreamContext, stream: str) -> int:
    """The stream's last sequence number."""
    return int((await js.stream_info(stream)).state.last_seq)


async def stream_messages(js: JetStreamContext, stream: str) -> int:
    """Messages the stream holds."""
    return int((await js.stream_info(stream)).state.messages)


# --- MongoDB ------------------------------------------------------------------

SCRATCH_COLLECTION = "bench_raw"


@contextlib.asynccontextmanager
async def mongo_client(url: str) -> AsyncIterator[AsyncMongoClient[Document]]:
    """A client for the block (naive datetimes, as the services have them)."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(url, tz_aware=False)
    try:
        yield client
    finally:
        await client.close()


async def server_description(client: AsyncMongoClient[Document]) -> str:
    """``server <version>`` of the MongoDB server ``client`` talks to."""
    build = await client.admin.command("buildInfo")
    return f"server {build.get('version', '?')}"


async def write_limit(
    col: AsyncCollection[Document],
    items: Sequence[T],
    write: Callable[[Sequence[T]], Awaitable[object]],
    batch: int,
    label: str,
    unit: str = "docs",
) -> Figure:
    """``write`` ``items`` in calls of ``batch``, timed; each must leave one document in
    ``col`` (checked), which is dropped afterwards."""
    started = time.perf_counter()
    for first in range(0, len(items), batch):
        await write(items[first : first + batch])
    seconds = time.perf_counter() - started
    count = await col.count_documents({})
    await col.drop()
    if count != len(items):
        raise BenchError(f"{label}: {count} of {len(items)} documents stored")
    return Figure(label, len(items), seconds, unit=unit)


async def insert_many_limit(
    col: AsyncCollection[Document], docs: Sequence[Document], batch: int, label: str, unit: str
) -> Figure:
    """The raw insert limit: ``insert_many`` of ``docs`` into an emptied ``col``, ``batch``
    per call, unordered."""
    await col.drop()
    return await write_limit(
        col, docs, lambda chunk: col.insert_many(chunk, ordered=False), batch, label, unit
    )


async def on_scratch_db(
    url: str, measure: Callable[[AsyncCollection[Document]], Awaitable[Figure]]
) -> tuple[Figure, str]:
    """``measure`` on a collection of a scratch database (dropped afterwards) at ``url``;
    returns its figure and :func:`server_description`."""
    db_name = f"kw_bench_raw_{uuid.uuid4().hex[:8]}"
    async with mongo_client(url) as client:
        try:
            server = await server_description(client)
            return await measure(client[db_name][SCRATCH_COLLECTION]), server
        finally:
            with contextlib.suppress(Exception):
                await client.drop_database(db_name)


# --- Report -------------------------------------------------------------------


def pipeline_parser(
    doc: str | None, count: str, default: int, what: str, *, in_flight: int, seed: int
) -> argparse.ArgumentParser:
    """The options every pipeline benchmark takes: ``--<count>`` (N), ``--in-flight``,
    ``--seed``, ``--timeout``, ``--mongo-disk``; the caller adds its own."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument(f"--{count}", type=int, default=default, help=f"{what} to send (N)")
    parser.add_argument(
        "--in-flight", type=int, default=in_flight, help="publish_async acks outstanding at most"
    )
    parser.add_argument("--seed", type=int, default=seed, help="workload random seed")
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds allowed per stage (default scales)"
    )
    parser.add_argument(
        "--mongo-disk",
        action="store_true",
        help="run SecantusDB on a temporary directory instead of in memory",
    )
    return parser


def pipeline_versions(
    mongo: FreshMongo, mongo_desc: str, nats_server: str | None = None, yaml: bool = True
) -> str:
    """The components of a pipeline benchmark, for :func:`machine_info`: nats-server
    (``nats_server``, else the binary's), the clients, ``PyYAML`` when ``yaml``, and the
    MongoDB ``mongo`` hands out with its ``mongo_desc``."""
    text = (
        f"nats-server {nats_server or binary_version('nats-server')}, "
        f"nats-py {version('nats-py')}, pymongo {version('pymongo')}, "
        f"msgspec {version('msgspec')}"
    )
    if yaml:
        text += f", PyYAML {version('pyyaml')}"
    return f"{text}; MongoDB: {mongo.kind}, {mongo_desc}"


def ratio_line(label: str, value: float, note: str, width: int = 46) -> str:
    """One ratio line; ``note`` is formatted with ``value`` and ``inverse`` (1 / value)."""
    if not math.isfinite(value) or not value > 0:
        return f"  {label:<{width}} = n/a"
    return f"  {label:<{width}} = {value:.3g}  ({note.format(value=value, inverse=1 / value)})"


def ms_per(seconds: float, count: int) -> str:
    """``seconds`` per item in milliseconds, for the report."""
    return f"{seconds * 1e3 / max(1, count):.2f} ms"


# --- Processes ----------------------------------------------------------------

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def cpu_delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds each process used between two :meth:`Stack.cpu` readings (processes in
    both)."""
    return {name: after[name] - before[name] for name in after if name in before}


def cpu_line(cpu: Mapping[str, float], extra: Mapping[str, float] | None = None) -> str:
    """``name seconds, ...``, busiest first, leaving out processes under 0.05 s."""
    used = {name: s for name, s in cpu.items() if s >= 0.05} | dict(extra or {})
    return ", ".join(f"{n} {s:.1f}" for n, s in sorted(used.items(), key=lambda kv: -kv[1]))


class Stack(contextlib.ExitStack):
    """The servers and services this run started; all stopped on exit, whatever happened.

    Tracked servers are stopped in reverse after every service set; then any direct child
    left behind (a server whose start was interrupted, a helper process) is signalled by pid.
    """

    def __init__(self, root: Path, me: str = "bench") -> None:
        super().__init__()
        self.root = root
        self.logs = root / "logs"
        self.me = me
        """The name this process's own CPU seconds are reported under."""
        self.procs: list[Proc] = []
        self.service_sets: list[ServiceSet] = []
        self.callback(self._stop_everything)

    @property
    def services(self) -> ServiceSet | None:
        """The service set started last (the one running, if any)."""
        return self.service_sets[-1] if self.service_sets else None

    def track(self, proc: Proc) -> Proc:
        """Remember ``proc`` for the final stop."""
        self.procs.append(proc)
        return proc

    def start_services(
        self, env: Mapping[str, str], names: Iterable[str], timeout: float = 60.0
    ) -> ServiceSet:
        """Stop the services of an earlier call, then start ``names`` with ``env``, each on
        its own free health port, and wait until each is healthy."""
        if self.services is not None:
            self.services.stop_all()
        services = ServiceSet(env, pick_ports(), self.logs)
        self.service_sets.append(services)  # tracked before anything starts
        for name in names:
            services.start(name, timeout=timeout)
        return services

    def stop_services(self) -> None:
        """Stop the running service set (a no-op when none runs)."""
        if self.services is not None:
            self.services.stop_all()

    def all_procs(self) -> list[Proc]:
        """Servers, then the services of the running set."""
        return [*self.procs, *(self.services.procs.values() if self.services else [])]

    def log_tails(self) -> str:
        """The end of every started process's log."""
        return "\n".join(
            f"--- {p.name} ({p.log_path}) ---\n{p.log_tail(15)}" for p in self.all_procs()
        )

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each running server and service and by this process."""
        used: dict[str, float] = {}
        for proc in self.all_procs():
            seconds = cpu_seconds(proc.popen.pid) if proc.popen is not None else None
            if seconds is not None:
                used[proc.name] = seconds
        used[self.me] = time.process_time()
        return used

    def _stop_everything(self) -> None:
        for services in reversed(self.service_sets):
            services.stop_all()
        for proc in reversed(self.procs):
            proc.stop()
        reap_own_children()


def _resource_tracker(proc_dir: Path) -> bool:
    """multiprocessing's resource tracker ignores SIGTERM and exits when this process does."""
    with contextlib.suppress(OSError):
        return b"multiprocessing.resource_tracker" in (proc_dir / "cmdline").read_bytes()
    return False


def reap_own_children(timeout: float = 10.0) -> None:
    """Stop direct children left behind, by pid (their process group when they lead one).

    ``infra.nats``/``infra.mongo`` do not hand back the process when their readiness wait
    fails or is interrupted; every child runs in its own process group, so this signals
    exactly those groups and nothing else.
    """
    me = os.getpid()
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == me and fields[0] != "Z" and not _resource_tracker(stat.parent):
                found.append(int(stat.parent.name))
    for pid in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGTERM)
            else:
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for pid in found:
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] != 0:
                    break
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def on_sigterm(_sig: int, _frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so every ``finally`` (and the :class:`Stack`) runs."""
    raise KeyboardInterrupt


def run(
    prefix: str,
    body: Callable[[Stack], str],
    *,
    me: str = "bench",
    scratch: Sequence[str] = ("jetstream", "mongo", "redis"),
) -> int:
    """The ``main`` of a benchmark: run ``body`` in a :class:`Stack`, print what it returns.

    ``body`` starts what it needs through the stack and returns the report. A
    :class:`BenchError` prints the started processes' log tails and the error; Ctrl-C or
    SIGTERM stop everything. Logs are kept when the run failed (the ``scratch`` data
    directories are removed either way). Returns the exit code.
    """
    signal.signal(signal.SIGTERM, on_sigterm)
    root = Path(tempfile.mkdtemp(prefix=prefix))
    failed = True
    try:
        with Stack(root, me) as stack:
            try:
                table = body(stack)
            except BenchError:
                print(stack.log_tails(), file=sys.stderr)
                raise
        print()
        print(table)
        failed = False
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted; everything started was stopped", file=sys.stderr)
        return 130
    finally:
        if failed:
            print(f"(logs kept in {root / 'logs'})", file=sys.stderr)
            for name in scratch:
                shutil.rmtree(root / name, ignore_errors=True)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


def own_nats(stack: Stack) -> str:
    """Start a nats-server (JetStream under ``jetstream`` in the run's directory) on a free
    port; returns its URL."""
    port = free_port()
    stack.track(infra.nats(port, stack.root / "jetstream", stack.logs))
    return f"nats://127.0.0.1:{port}"


@dataclass(frozen=True)
class Servers:
    """The URLs of the servers :func:`own_servers` started."""

    nats_url: str
    redis_url: str
    mongo_url: str

    def env(self, db_name: str, token: str) -> dict[str, str]:
        """The environment of services (the gateway included) on these servers: this
        process's, the servers, ``token`` as the service token, fresh secrets, warnings
        only."""
        return dict(os.environ) | {
            "NATS_URL": self.nats_url,
            "MONGODB_URL": self.mongo_url,
            "MONGODB_DB": db_name,
            "REDIS_URL": self.redis_url,
            "SERVICE_TOKEN": token,
            "SESSION_SECRET": secrets.token_urlsafe(32),
            "SETTINGS_SECRET": secrets.token_urlsafe(32),
            "LOG_LEVEL": "WARNING",
        }


def own_servers(stack: Stack, mongo_storage: Path | None = None) -> Servers:
    """Start nats-server, redis-server (nothing kept) and SecantusDB (in memory, or on disk
    at ``mongo_storage``) on free ports, tracked by ``stack``."""
    nats_port, redis_port, mongo_port = free_port(), free_port(), free_port()
    stack.track(infra.nats(nats_port, stack.root / "jetstream", stack.logs))
    stack.track(infra.redis(redis_port, stack.root / "redis", stack.logs, persist=False))
    stack.track(infra.mongo(mongo_port, mongo_storage, stack.logs))
    return Servers(
        nats_url=f"nats://127.0.0.1:{nats_port}",
        redis_url=f"redis://127.0.0.1:{redis_port}/0",
        mongo_url=f"mongodb://127.0.0.1:{mongo_port}/?directConnection=true",
    )


def service_env(nats_url: str, mongo_url: str, db_name: str, **extra: str) -> dict[str, str]:
    """The environment of the services a benchmark starts: this process's, the servers,
    ``REDIS_URL`` from ``BENCH_REDIS_URL`` (or the services' default), warnings only, and
    ``extra``."""
    return (
        dict(os.environ)
        | {
            "NATS_URL": nats_url,
            "MONGODB_URL": mongo_url,
            "MONGODB_DB": db_name,
            "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
            "LOG_LEVEL": "WARNING",
        }
        | extra
    )


class FreshMongo:
    """Hands out a MongoDB URL per measurement: ``given`` (an external server) as is, else a
    new SecantusDB each call, the previous one stopped first. A SecantusDB that served an
    earlier measurement, even with its database dropped, made the next one 1.5-5x slower.
    """

    def __init__(
        self,
        stack: Stack,
        given: str = "",
        disk: bool = False,
        cache_size: str = infra.MONGO_CACHE_SIZE,
        use_jemalloc: bool = True,
    ) -> None:
        self.stack = stack
        self.given = given
        self.disk = disk
        self.cache_size = cache_size
        self.use_jemalloc = use_jemalloc
        self._running: list[Proc] = []
        self._count = 0

    @property
    def kind(self) -> str:
        """What the MongoDB is, for the report."""
        if self.given:
            return "external"
        where = "on disk" if self.disk else "in memory"
        return f"SecantusDB {version('secantusdb')} {where}, a fresh server per measurement"

    def __call__(self) -> str:
        """The URL for the next measurement."""
        if self.given:
            return self.given
        for proc in self._running:
            proc.stop()
        self._running.clear()
        self._count += 1
        port = free_port()
        storage = None
        if self.disk:  # under ``mongo``, which a failed run removes (see :func:`run`)
            storage = self.stack.root / "mongo" / str(self._count)
            storage.parent.mkdir(parents=True, exist_ok=True)
        self._running.append(
            self.stack.track(
                infra.mongo(
                    port,
                    storage,
                    self.stack.logs,
                    cache_size=self.cache_size,
                    use_jemalloc=self.use_jemalloc,
                )
            )
        )
        return f"mongodb://127.0.0.1:{port}/?directConnection=true"


# --- Machine description ------------------------------------------------------


def version(dist: str) -> str:
    """The installed version of a Python distribution, ``?`` when absent."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def binary_version(name: str) -> str:
    """``name --version`` of a server binary, trimmed to the version; ``?`` when unknown."""
    try:
        out = subprocess.run(
            [find_binary(name), "--version"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError, RuntimeError):
        return "?"
    text = out.stdout.strip().removeprefix("nats-server: ")
    if name == "redis-server":
        text = next((w.removeprefix("v=") for w in text.split() if w.startswith("v=")), text)
    return text


def machine_info(versions: str) -> list[str]:
    """Lines describing the machine, the interpreter and ``versions`` of the components."""
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"machine   nproc={nproc}  cpu_count={os.cpu_count()}  {platform.platform()}",
        f"python    {platform.python_version()} ({platform.python_implementation()})",
        f"versions  {versions}",
    ]
