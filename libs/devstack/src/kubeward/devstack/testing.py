"""Pytest fixtures that start real infrastructure on free ports (registered by conftest.py).

``TEST_NATS_URL``, ``TEST_MONGODB_URL`` and ``TEST_REDIS_URL`` point the tests at servers
you run yourself instead; NATS streams there are deleted before each test. When a server
cannot be started the fixture raises, so the test fails: nothing is skipped.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec
import nats
import pytest
import redis.asyncio
import uvicorn
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from kubeward.core.mongo import Document
from kubeward.devstack import infra
from kubeward.devstack.procs import Proc, free_port
from kubeward.devstack.services import ServiceSet, pick_ports
from kubeward.schemas import bus

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    timeout: float = 15.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Poll ``probe`` until ``until(result)`` holds; ``AssertionError`` with the last value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if until(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s; last value: {value!r}")
        await asyncio.sleep(interval)


class Commands(monitoring.CommandListener):
    """The MongoDB commands a client sends, as (command name, collection): pass it in
    ``event_listeners`` to count round trips in a test."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.find_filters: list[dict[str, Any]] = []
        """The filter of each ``find`` command, in order."""
        self.find_commands: list[dict[str, Any]] = []
        """Each ``find`` command's collection, filter, sort, projection and limit, in order
        (for :func:`docs_examined`)."""
        self.rows_read = 0
        """Documents the server returned to ``find`` and ``getMore`` commands."""

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        self.sent.append((event.command_name, target if isinstance(target, str) else ""))
        if event.command_name == "find":
            self.find_filters.append(dict(event.command.get("filter", {})))
            self.find_commands.append({k: v for k, v in event.command.items() if k in _FIND_SHAPE})

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        cursor = event.reply.get("cursor")
        if event.command_name in ("find", "getMore") and isinstance(cursor, Mapping):
            batch = cursor.get("firstBatch", cursor.get("nextBatch", ()))
            self.rows_read += len(batch)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    @property
    def names(self) -> list[str]:
        """Command names, in order."""
        return [name for name, _ in self.sent]

    def finds(self) -> list[str]:
        """Collections of the ``find`` commands, in order."""
        return [collection for name, collection in self.sent if name == "find"]

    def writes(self) -> int:
        """``insert`` and ``update`` commands sent."""
        return sum(name in ("insert", "update") for name in self.names)

    def clear(self) -> None:
        """Forget what was sent so far."""
        self.sent.clear()
        self.find_filters.clear()
        self.find_commands.clear()
        self.rows_read = 0


_FIND_SHAPE = ("find", "filter", "sort", "projection", "limit")


async def docs_examined(db: AsyncDatabase[Document], commands: Commands) -> int:
    """The documents the server examined for the ``find`` commands recorded so far, each
    explained again (``executionStats``): what a query cost, where ``rows_read`` only
    counts what it returned (a ``sort`` + ``limit`` can read thousands to return one)."""
    examined = 0
    for command in list(commands.find_commands):
        explained = await db.command("explain", command, verbosity="executionStats")
        examined += int(explained["executionStats"]["totalDocsExamined"])
    return examined


async def stored_messages(nc: NATS, subject: str, stream: str) -> list[Msg]:
    """Everything stored on ``subject`` so far (an ephemeral consumer; nothing is acked)."""
    sub = await nc.jetstream().pull_subscribe(subject, stream=stream)
    msgs: list[Msg] = []
    try:
        while True:
            msgs += await sub.fetch(100, timeout=0.3)
    except TimeoutError:
        pass
    await sub.unsubscribe()
    return msgs


async def acked_through(js: JetStreamContext, stream: str, durable: str, seq: int) -> bool:
    """Whether durable consumer ``durable`` has acked every message of ``stream`` up to
    sequence ``seq`` (a PubAck's) and holds none unacked.

    Not ``num_pending == 0``: the server counts a new message into it after the PubAck, so
    right after a publish it can read 0 before the consumer saw the message (1 in ~300 on
    nats-server 2.9)."""
    info = await js.consumer_info(stream, durable)
    floor = int(info.ack_floor.stream_seq or 0) if info.ack_floor is not None else 0
    return floor >= seq and not info.num_ack_pending


async def dead_letters(nc: NATS) -> list[Msg]:
    """Everything in the dead-letter stream so far (nothing is acked)."""
    info = await nc.jetstream().stream_info(bus.DEADLETTER.name)
    if not info.state.messages:
        return []
    sub = await nc.jetstream().pull_subscribe(
        bus.DEADLETTER_PREFIX + ">", stream=bus.DEADLETTER.name
    )
    msgs = await sub.fetch(info.state.messages, timeout=5)
    await sub.unsubscribe()
    return msgs


@asynccontextmanager
async def serve_asgi(app: Any, **config: Any) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on a free port in this event loop; yield its base URL.

    ``config``: more ``uvicorn.Config`` options (e.g. the ``ws`` protocol a service uses).

    Unlike an in-memory test client this runs the app's lifespan in the test's own loop,
    so connections it opens (NATS, MongoDB) live where the test awaits them.
    """
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, **config
        )
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: _started(server, task), bool, timeout=30, what="uvicorn start-up")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _started(server: uvicorn.Server, task: asyncio.Task[None]) -> bool:
    if task.done():
        task.result()  # re-raise the start-up failure
        raise RuntimeError("uvicorn exited during start-up")
    return bool(server.started)


@pytest.fixture(scope="session")
def infra_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder for the logs of servers started by the fixtures."""
    return tmp_path_factory.mktemp("infra-logs")


@pytest.fixture(scope="session")
def mongo_url(infra_logs: Path) -> Iterator[str]:
    """A MongoDB wire server for the whole session (SecantusDB in memory by default)."""
    given = os.environ.get("TEST_MONGODB_URL")
    if given:
        yield given
        return
    port = free_port()
    proc = infra.mongo(port, None, infra_logs)
    yield f"mongodb://127.0.0.1:{port}/?directConnection=true"
    proc.stop()


@pytest.fixture(scope="session")
def redis_url(infra_logs: Path) -> Iterator[str]:
    """A Redis server for the whole session."""
    given = os.environ.get("TEST_REDIS_URL")
    if given:
        yield given
        return
    port = free_port()
    proc = infra.redis(port, infra_logs / "redis-data", infra_logs, persist=False)
    yield f"redis://127.0.0.1:{port}/0"
    proc.stop()


@pytest.fixture
async def clean_redis_url(redis_url: str) -> str:
    """The session Redis, emptied for this test (sessions, rate-limit windows)."""
    client = redis.asyncio.Redis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()
    return redis_url


@pytest.fixture
def nats_url(tmp_path: Path, infra_logs: Path) -> Iterator[str]:
    """A fresh JetStream server per test, so streams and consumers never leak between tests."""
    given = os.environ.get("TEST_NATS_URL")
    if given:
        asyncio.run(_delete_streams(given))
        yield given
        return
    port = free_port()
    proc = infra.nats(port, tmp_path / "jetstream", infra_logs)
    yield f"nats://127.0.0.1:{port}"
    proc.stop()


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[list[infra.NatsNode]]:
    """A fresh three-node JetStream cluster per test (``infra.cluster_url`` gives the
    ``NATS_URL``); a test may kill and restart its nodes."""
    nodes = infra.nats_cluster(tmp_path / "jetstream-cluster", tmp_path / "nats-cluster-logs")
    yield nodes
    for node in nodes:
        if node.proc is not None:
            node.proc.stop()


class RestartableServer:
    """A server on a fixed port and store that a test may stop, kill and start again."""

    def __init__(self, launch: Callable[[], Proc], url: str) -> None:
        self._launch = launch
        self.url = url
        """The server's URL, the same across restarts."""
        self.proc = launch()

    def stop(self) -> None:
        """SIGTERM, and wait for the exit."""
        self.proc.stop()

    def kill(self) -> None:
        """SIGKILL (the crash case)."""
        self.proc.kill()

    def start(self) -> None:
        """Start again on the same port and store."""
        self.proc = self._launch()


@pytest.fixture
def restartable_nats(tmp_path: Path) -> Iterator[RestartableServer]:
    """A JetStream server of the test's own, since the shared one must not be restarted."""
    port = free_port()
    server = RestartableServer(
        partial(infra.nats, port, tmp_path / "jetstream", tmp_path), f"nats://127.0.0.1:{port}"
    )
    yield server
    server.stop()


@pytest.fixture
def restartable_mongo(tmp_path: Path) -> Iterator[RestartableServer]:
    """A SecantusDB on disk of the test's own, since the shared one must not be restarted."""
    port = free_port()
    server = RestartableServer(
        partial(infra.mongo, port, tmp_path / "mongo-data", tmp_path),
        f"mongodb://127.0.0.1:{port}/?directConnection=true",
    )
    yield server
    server.stop()


async def _delete_streams(url: str) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    for info in await js.streams_info():
        if info.config.name:
            await js.delete_stream(info.config.name)
    await nc.close()


@pytest.fixture
def mongo_db_name() -> str:
    """A database name no other test uses."""
    return f"kw_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    """A NATS connection to the test's server."""
    conn = await nats.connect(nats_url)
    yield conn
    await conn.close()


@pytest.fixture
async def mongo(mongo_url: str) -> AsyncIterator[AsyncMongoClient[Document]]:
    """A MongoDB client for the session server."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url)
    yield client
    await client.close()


WatchedDb = tuple[AsyncDatabase[Document], Commands]
"""What :func:`watched_db` gives: the database and the commands sent to it."""


@pytest.fixture
async def watched_db(mongo_url: str, mongo_db_name: str) -> AsyncIterator[WatchedDb]:
    """The test's own database, through a client whose commands are recorded (to assert
    round trips and rows read); dropped afterwards."""
    commands = Commands()
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url, event_listeners=[commands])
    yield client[mongo_db_name], commands
    await client.drop_database(mongo_db_name)
    await client.close()


SERVICE_TOKEN = "test-service-token"


@pytest.fixture
def stack_env(
    nats_url: str, mongo_url: str, clean_redis_url: str, mongo_db_name: str
) -> dict[str, str]:
    """Environment the service processes share in an end-to-end test."""
    return dict(os.environ) | {
        "NATS_URL": nats_url,
        "MONGODB_URL": mongo_url,
        "MONGODB_DB": mongo_db_name,
        "REDIS_URL": clean_redis_url,
        "SERVICE_TOKEN": SERVICE_TOKEN,
        "SESSION_SECRET": "test-session-secret",
        "SETTINGS_SECRET": "test-settings-secret-0123456789",
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture
def stack(stack_env: dict[str, str], tmp_path: Path) -> Iterator[ServiceSet]:
    """All six services as processes, healthy, as ``make run`` starts them."""
    services = ServiceSet(stack_env, pick_ports(free_port()), tmp_path / "service-logs")
    try:
        services.start_all()
        yield services
    finally:
        services.stop_all()


# Pod traffic load: what the restart and fail-over tests publish and read back.

TRAFFIC_PER_MESSAGE = 25
"""Events per published ``COLLECT_POD_TRAFFIC`` message."""
TRAFFIC_FLOWS = 400
"""Distinct flows: event ``i`` belongs to flow ``i % TRAFFIC_FLOWS``."""


def traffic_event(i: int) -> dict[str, str]:
    """Event ``i``; flows repeat every ``TRAFFIC_FLOWS`` events so most flows get several hits."""
    flow = i % TRAFFIC_FLOWS
    return {
        "uuid": f"00000000-0000-4000-8000-{i:012d}",
        "pod_name": f"pod-{flow % 7}",
        "pod_namespace": "prod",
        "pod_ip": f"10.1.{flow // 250}.{flow % 250}",
        "pod_port": "8080",
        "ip_protocol": "TCP",
        "traffic_type": "INGRESS",
        "traffic_in_out_ip": "10.2.0.1",
        "traffic_in_out_port": "443",
        "decision": "ALLOW",
        "time_stamp": f"2026-05-12T10:00:00.{i:06d}",
    }


def traffic_message(m: int) -> list[dict[str, str]]:
    """Message ``m``: events ``m * TRAFFIC_PER_MESSAGE`` onwards."""
    return [traffic_event(m * TRAFFIC_PER_MESSAGE + k) for k in range(TRAFFIC_PER_MESSAGE)]


async def publish_traffic(js: JetStreamContext, messages: range, msg_id_prefix: str) -> int:
    """Publish ``messages`` as a collector does: each with its own ``Nats-Msg-Id``
    (``<prefix>-<m>``), retried until acknowledged. The number of events acknowledged."""
    acked = 0
    for m in messages:
        while True:  # a publish in flight when its server or stream leader dies gets no ack
            try:
                await js.publish(
                    bus.COLLECT_POD_TRAFFIC,
                    msgspec.json.encode(traffic_message(m)),
                    headers={bus.HDR_MSG_ID: f"{msg_id_prefix}-{m}"},
                    timeout=2,
                )
                break
            except Exception:
                await asyncio.sleep(0.2)
        acked += TRAFFIC_PER_MESSAGE
    return acked


async def traffic_totals(api: httpx.AsyncClient) -> tuple[int, int]:
    """(rows, sum of hits) across every page of ``GET /pod/traffic``; no flow stored twice."""
    rows: list[dict[str, object]] = []
    cursor: str | None = None
    while True:
        params = {"with_stats": "true", "limit": "5000"} | ({"cursor": cursor} if cursor else {})
        resp = await api.get(
            "/pod/traffic", headers={"X-Service-Token": SERVICE_TOKEN}, params=params
        )
        resp.raise_for_status()
        rows += resp.json()
        cursor = resp.headers.get("x-next-cursor")
        if cursor is None:
            break
    uuids = [r["uuid"] for r in rows]
    assert len(uuids) == len(set(uuids)), "a flow was stored twice"
    return len(rows), sum(int(str(r["hits"])) for r in rows)


TRAFFIC_SERVICES = ("ingest", "traffic_store", "gateway")
"""The services the pod-traffic path runs through."""


def traffic_services(env: dict[str, str], logs: Path) -> ServiceSet:
    """:data:`TRAFFIC_SERVICES` as processes on ``env``'s servers, healthy (stop them with
    ``stop_all``)."""
    services = ServiceSet(env, pick_ports(free_port()), logs)
    try:
        for name in TRAFFIC_SERVICES:
            services.start(name, wait=False)
        for name in TRAFFIC_SERVICES:
            services.wait_healthy(name)
    except BaseException:
        services.stop_all()
        raise
    return services


async def settled_health(services: ServiceSet, name: str) -> tuple[str, int, int]:
    """``name``'s health once it stops changing (three probes alike, half a second apart):
    its status, and the codes of ``/health`` and ``/live``. The state takes a few seconds to
    follow a server going or coming back."""
    url = services.health_url(name)
    seen: list[tuple[str, int, int]] = []
    async with httpx.AsyncClient(timeout=10) as client:

        async def probe() -> tuple[str, int, int]:
            health = await client.get(url)
            live = await client.get(url.replace("/health", "/live"))
            seen.append((health.json()["status"], health.status_code, live.status_code))
            return seen[-1]

        return await eventually(
            probe,
            lambda state: seen[-3:] == [state] * 3,
            timeout=30,
            interval=0.5,
            what=f"{name}'s health to settle",
        )


async def all_traffic_stored(
    api: httpx.AsyncClient, acked: int, timeout: float = 120.0
) -> tuple[int, int]:
    """(rows, hits) of ``GET /pod/traffic`` once the hits reach ``acked`` (the events the
    server acknowledged); ``AssertionError`` after ``timeout`` seconds."""
    return await eventually(
        lambda: stored_traffic(api),
        lambda totals: totals[1] >= acked,
        timeout=timeout,
        what="every accepted event stored",
    )


async def stored_traffic(api: httpx.AsyncClient) -> tuple[int, int]:
    """``traffic_totals``, or ``(-1, -1)`` while the gateway's request/reply reconnects."""
    try:
        return await traffic_totals(api)
    except httpx.HTTPError:
        return (-1, -1)


# kguardian's controller on the wire (network.rs, pinned in the gateway's kguardian tests).


def kguardian_wire(value: Any) -> bytes:
    """What ``serde_json::to_vec(&json!(value))`` writes: compact, keys sorted."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def kguardian_traffic(n: int, **changes: Any) -> dict[str, Any]:
    """One ``PodTraffic`` as the controller's network.rs builds it (nanosecond time, Option
    fields set); ``changes`` replace fields."""
    return {
        "uuid": f"6f1c2a4e-0000-4000-8000-{n:012d}",
        "pod_name": "web-7d9f6b8c4-x5z2w",
        "pod_namespace": "shop",
        "pod_ip": "10.244.1.5",
        "pod_port": "0",
        "traffic_type": "EGRESS",
        "traffic_in_out_ip": f"10.96.0.{n}",
        "traffic_in_out_port": "5432",
        "ip_protocol": "TCP",
        "decision": "ALLOW",
        "time_stamp": f"2026-05-12T10:32:{n:02d}.123456789",
    } | changes


class CountedCalls:
    """An awaitable no-op that counts its calls (e.g. a page walk's ``between`` hook)."""

    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> None:
        """Count one call."""
        self.count += 1
