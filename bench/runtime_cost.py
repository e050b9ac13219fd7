"""What the FastStream runtime costs against the hand-written NATS loops, in the same run.

Run by ``make bench`` (``uv run --no-sync python -m bench.runtime_cost [--messages N]
[--requests R] [--rounds K]``).

It starts its own nats-server (or uses ``BENCH_NATS_URL``) and measures, alternately for
``--rounds`` rounds, each path both ways:

- **batch consumer**: N messages (~1 KB, as a collect message) in a scratch stream,
  consumed by a durable pull consumer in batches of 100 with one ack per message. Raw: the
  loop the services ran before the runtime (nats-py ``fetch`` + ``ack``). Runtime:
  :class:`~kubeward.core.batch_consumers.BusRuntime` with a handler doing nothing, so its
  settlement (per-message outcome, acks) and FastStream's consume pipeline are all that is
  timed. Timed from the start until the server shows every message acked.
- **request/reply**: R sequential requests (p50, p99) and R requests 32 at a time (req/s)
  to a responder answering a small JSON ``Reply``. Raw: a nats-py subscription replying
  from its callback. Runtime: ``BusRuntime.replies`` (decode, answer, publish the reply).

It prints each figure and the runtime's ratio to the raw loop; it never asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from bench.common import (
    SCRATCH_STREAM,
    SCRATCH_SUBJECT,
    BenchError,
    Stack,
    machine_info,
    nats_client,
    own_nats,
    publish_all,
    ratio_line,
    run,
    say,
    scratch_stream,
    version,
)
from kubeward.core.batch_consumers import BatchSpec, BusRuntime
from kubeward.core.bus import settled
from kubeward.schemas.replies import Reply

BATCH = 100
CONCURRENT = 32
POLL = 0.01
RPC_SUBJECT = "bench.rpc.runtime-cost"


class Ask(msgspec.Struct):
    """The request body."""

    n: int


_ANSWER = Reply(body=msgspec.Raw(b'[{"id":1,"name":"web"}]'), count=1)


async def _answer(_ask: Ask) -> Reply:
    return _ANSWER


async def _acked(js: JetStreamContext, durable: str, count: int, timeout: float) -> None:
    """Until the consumer has acked ``count`` messages (polled every :data:`POLL` s)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        info = await js.consumer_info(SCRATCH_STREAM, durable)
        if info.ack_floor.stream_seq is not None and info.ack_floor.stream_seq >= count:
            return
        await asyncio.sleep(POLL)
    raise BenchError(f"{durable}: not every message acked within {timeout} s")


async def raw_consumer(nats_url: str, js: JetStreamContext, count: int, durable: str) -> float:
    """The hand-written loop: fetch a batch, ack each message."""
    async with nats_client(nats_url, "bench-raw-consumer") as nc:
        sub = await nc.jetstream().pull_subscribe(
            SCRATCH_SUBJECT,
            durable=durable,
            stream=SCRATCH_STREAM,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=-1),
        )
        started = time.perf_counter()
        done = 0
        while done < count:
            msgs = await sub.fetch(BATCH, timeout=5)
            for msg in msgs:
                await msg.ack()
            done += len(msgs)
        await _acked(js, durable, count, 30)
        return time.perf_counter() - started


async def runtime_consumer(nats_url: str, js: JetStreamContext, count: int, durable: str) -> float:
    """The services' runtime: a durable batch consumer whose handler does nothing."""

    async def nothing(_msgs: list[Msg]) -> None:
        pass

    runtime = BusRuntime("bench-runtime-consumer", nats_url)
    spec = BatchSpec(
        stream=SCRATCH_STREAM,
        durable=durable,
        filter_subject=SCRATCH_SUBJECT,
        stage="bench",
        batch=BATCH,
        max_ack_pending=-1,
    )
    runtime.batch_consumer(spec, nothing)
    started = time.perf_counter()
    await runtime.start()
    try:
        await _acked(js, durable, count, 60)
        return time.perf_counter() - started
    finally:
        await runtime.stop()


async def consumers(nats_url: str, count: int, rounds: int) -> tuple[list[float], list[float]]:
    """Seconds per round for each loop over the same ``count`` messages."""
    nc = await nats.connect(nats_url, name="bench-publisher")
    js = nc.jetstream()
    messages = [msgspec.json.encode({"n": i, "pad": "x" * 1000}) for i in range(count)]
    raw: list[float] = []
    framework: list[float] = []
    try:
        async with scratch_stream(js):
            await publish_all(js, SCRATCH_SUBJECT, SCRATCH_STREAM, messages, 120)
            for round_ in range(rounds):
                say(f"batch consumer, round {round_ + 1}/{rounds} ...")
                raw.append(await raw_consumer(nats_url, js, count, f"raw-{round_}"))
                framework.append(await runtime_consumer(nats_url, js, count, f"rt-{round_}"))
    finally:
        await nc.close()
    return raw, framework


@contextlib.asynccontextmanager
async def raw_responder(nats_url: str) -> Any:
    """A nats-py subscription answering from its callback (decode, answer, encode)."""
    nc = await nats.connect(nats_url, name="bench-raw-responder")
    decoder = msgspec.json.Decoder(Ask)

    async def on_request(msg: Msg) -> None:
        reply = await _answer(decoder.decode(msg.data))
        await nc.publish(msg.reply, msgspec.json.encode(reply))

    await nc.subscribe(RPC_SUBJECT, queue="bench", cb=on_request)
    await settled(nc)  # in force for the requester's connection too, not only flushed
    try:
        yield
    finally:
        await nc.close()


@contextlib.asynccontextmanager
async def runtime_responder(nats_url: str) -> Any:
    """``BusRuntime.replies`` answering the same requests."""
    runtime = BusRuntime("bench-runtime-responder", nats_url)
    runtime.replies(RPC_SUBJECT, Ask, _answer, "bench")
    await runtime.start()
    try:
        yield
    finally:
        await runtime.stop()


async def _ask(nc: NATS) -> float:
    started = time.perf_counter()
    msg = await nc.request(RPC_SUBJECT, b'{"n": 1}', timeout=5)
    if msgspec.json.decode(msg.data, type=Reply).status != 200:
        raise BenchError(f"unexpected reply {msg.data!r}")
    return time.perf_counter() - started


async def requests(nc: NATS, count: int) -> tuple[float, float, float]:
    """p50 and p99 of ``count`` sequential requests (s), then req/s with
    :data:`CONCURRENT` in flight."""
    latencies = sorted([await _ask(nc) for _ in range(count)])
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    slots = asyncio.Semaphore(CONCURRENT)

    async def one() -> None:
        async with slots:
            await _ask(nc)

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return p50, p99, count / (time.perf_counter() - started)


Responder = Callable[[str], contextlib.AbstractAsyncContextManager[Any]]


async def replies(
    nats_url: str, count: int, rounds: int
) -> dict[str, list[tuple[float, float, float]]]:
    """Each responder's figures per round."""
    nc = await nats.connect(nats_url, name="bench-requester")
    found: dict[str, list[tuple[float, float, float]]] = {"raw": [], "runtime": []}
    sides: dict[str, Responder] = {"raw": raw_responder, "runtime": runtime_responder}
    try:
        for round_ in range(rounds):
            say(f"request/reply, round {round_ + 1}/{rounds} ...")
            for side, responder in sides.items():
                async with responder(nats_url):
                    await requests(nc, min(200, count))  # warm-up
                    found[side].append(await requests(nc, count))
    finally:
        await nc.close()
    return found


def _median(values: Sequence[float]) -> float:
    return statistics.median(values)


def report(
    args: argparse.Namespace,
    consumed: tuple[list[float], list[float]],
    answered: dict[str, list[tuple[float, float, float]]],
) -> str:
    """The figures and the ratios."""
    raw_s, rt_s = consumed
    raw_rate = args.messages / _median(raw_s)
    rt_rate = args.messages / _median(rt_s)

    def col(side: str, index: int) -> float:
        return _median([figures[index] for figures in answered[side]])

    lines = [
        *machine_info(f"nats-py {version('nats-py')}, FastStream {version('faststream')}"),
        f"medians of {args.rounds} alternating rounds",
        "",
        f"batch consumer, {args.messages} messages of ~1 KB, batches of {BATCH}:",
        f"  raw nats-py fetch + ack     {raw_rate:>10,.0f} msg/s  "
        f"(rounds: {', '.join(f'{args.messages / s:,.0f}' for s in raw_s)})",
        f"  runtime (BusRuntime)        {rt_rate:>10,.0f} msg/s  "
        f"(rounds: {', '.join(f'{args.messages / s:,.0f}' for s in rt_s)})",
        f"request/reply, {args.requests} requests:",
    ]
    for side in ("raw", "runtime"):
        lines.append(
            f"  {side:<8} p50 {col(side, 0) * 1e3:6.2f} ms  p99 {col(side, 1) * 1e3:6.2f} ms  "
            f"{CONCURRENT} in flight {col(side, 2):>8,.0f} req/s"
        )
    lines += [
        "",
        "ratios (same run, same machine)",
        ratio_line(
            "runtime / raw batch consumer (msg/s)", rt_rate / raw_rate, "raw is {inverse:.2f}x"
        ),
        ratio_line(
            "runtime / raw request p50 (latency)", col("runtime", 0) / col("raw", 0), "{value:.2f}x"
        ),
        ratio_line(
            "runtime / raw requests in flight (req/s)",
            col("runtime", 2) / col("raw", 2),
            "raw is {inverse:.2f}x",
        ),
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.runtime_cost", description=__doc__)
    parser.add_argument("--messages", type=int, default=50_000, help="messages consumed per loop")
    parser.add_argument("--requests", type=int, default=3_000, help="requests per responder")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of each")
    args = parser.parse_args(argv)
    if min(args.messages, args.requests, args.rounds) < 1:
        parser.error("--messages, --requests and --rounds must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Start nats-server, measure both paths both ways, print the table."""
    args = parse_args(argv)

    def body(stack: Stack) -> str:
        nats_url = os.environ.get("BENCH_NATS_URL") or own_nats(stack)

        async def measure() -> str:
            consumed = await consumers(nats_url, args.messages, args.rounds)
            answered = await replies(nats_url, args.requests, args.rounds)
            return report(args, consumed, answered)

        return asyncio.run(measure())

    return run("kubeward-bench-runtime-", body, scratch=("jetstream",))


if __name__ == "__main__":
    raise SystemExit(main())
