"""What failure-analyzer asks traffic-store, on a real nats-server: a stand-in for
traffic-store answers (traffic-store's own answers are tested in its package and end to
end in ``gateway/tests/test_failure_traffic_api.py``), so the test sets what it says it
holds and counts the questions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import msgspec
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from kubeward.core.bus import settled
from kubeward.failure_analyzer.report_view import ReportView
from kubeward.failure_analyzer.traffic_link import TrafficLink, stamp
from kubeward.schemas import bus
from kubeward.schemas.network import (
    Caller,
    DropQueries,
    DropReport,
    DropReports,
    ImpactQuery,
    ImpactReport,
)
from kubeward.schemas.pod_failures import PodFailureReport
from kubeward.schemas.replies import Reply

AT = datetime(2026, 12, 5, 10, 0, 0)
QUIET_FOR = 1.0


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TrafficStandIn:
    """Answers ``drops-many`` (no DROP near any failure) and ``impact`` (one caller),
    saying it holds the newest sightings the test sets; counts the questions."""

    def __init__(self, nc: NATS) -> None:
        self.nc = nc
        self.newest_drop: str | None = ""
        self.newest_flow: str | None = ""
        self.drop_queries = 0
        self.impact_queries = 0

    async def start(self) -> None:
        await self.nc.subscribe(bus.RPC_NETWORK_DROPS_MANY, cb=self._drops)
        await self.nc.subscribe(bus.RPC_NETWORK_IMPACT, cb=self._impact)
        await settled(self.nc)

    async def _drops(self, msg: Msg) -> None:
        queries = msgspec.json.decode(msg.data, type=DropQueries).queries
        self.drop_queries += len(queries)
        answer = DropReports(
            reports=[DropReport(since=q.since, until=q.until) for q in queries],
            newest_drop=self.newest_drop,
            newest_flow=self.newest_flow,
        )
        await self._answer(msg, answer)

    async def _impact(self, msg: Msg) -> None:
        query = msgspec.json.decode(msg.data, type=ImpactQuery)
        self.impact_queries += 1
        caller = Caller(
            workload="shop/Deployment/api",
            namespace="shop",
            kind="Deployment",
            name="api",
            flows=1,
            hits=1,
            drops=0,
            dropped_hits=0,
            ports=["8080/TCP"],
            via=["pod"],
            last_seen=query.until,
        )
        await self._answer(msg, ImpactReport(**msgspec.structs.asdict(query), callers=[caller]))

    async def _answer(self, msg: Msg, body: object) -> None:
        reply = Reply(status=200, body=msgspec.Raw(msgspec.json.encode(body)))
        await self.nc.publish(msg.reply, msgspec.json.encode(reply))


@pytest.fixture
async def traffic(nc: NATS) -> TrafficStandIn:
    stand_in = TrafficStandIn(nc)
    await stand_in.start()
    return stand_in


@pytest.fixture
async def link(nats_url: str) -> AsyncIterator[tuple[TrafficLink, Clock]]:
    nc = NATS()
    await nc.connect(nats_url)
    clock = Clock()
    link = TrafficLink(nc, timeout=5.0, quiet_for=QUIET_FOR, clock=clock)
    await link.start()
    yield link, clock
    await link.stop()
    await nc.close()


def failure(pod: str, at: datetime = AT) -> tuple[PodFailureReport, datetime, ReportView]:
    report = msgspec.convert(
        {"pod_name": pod, "namespace": "shop", "failure_reason": "CrashLoopBackOff"},
        PodFailureReport,
    )
    return report, at, ReportView(report)


async def test_no_drop_stored_since_a_window_began_is_not_asked_again_for_a_while(
    traffic: TrafficStandIn, link: tuple[TrafficLink, Clock]
) -> None:
    traffic_link, clock = link
    traffic.newest_drop = stamp(AT - timedelta(hours=1))
    first = await traffic_link.reports_drops([failure("a"), failure("b")])
    assert traffic.drop_queries == 2
    clock.now += QUIET_FOR / 2
    later = await traffic_link.reports_drops([failure("c"), failure("d")])
    assert traffic.drop_queries == 2, "asked although no DROP was stored since"
    assert all(r is not None and r.peers == [] for r in [*first, *later])
    clock.now += QUIET_FOR  # what traffic-store said is too old now
    await traffic_link.reports_drops([failure("e")])
    assert traffic.drop_queries == 3


async def test_a_failure_whose_window_holds_the_newest_drop_is_asked_about(
    traffic: TrafficStandIn, link: tuple[TrafficLink, Clock]
) -> None:
    traffic_link, _ = link
    traffic.newest_drop = stamp(AT - timedelta(minutes=2))
    await traffic_link.reports_drops([failure("a")])
    await traffic_link.reports_drops([failure("b"), failure("c", AT + timedelta(hours=1))])
    # b's window holds the DROP: asked; c's began after it: answered here
    assert traffic.drop_queries == 2


async def test_callers_are_not_asked_for_when_no_flow_was_stored_since_the_window_began(
    traffic: TrafficStandIn, link: tuple[TrafficLink, Clock]
) -> None:
    traffic_link, clock = link
    traffic.newest_flow = stamp(AT - timedelta(hours=1))
    before = AT - timedelta(minutes=15)
    assert await traffic_link.impact("shop", "a", before, AT) is not None  # not known yet
    assert traffic.impact_queries == 1
    await traffic_link.reports_drops([failure("a")])
    quiet = await traffic_link.impact("shop", "b", before, AT)
    assert quiet is not None and quiet.callers == [] and traffic.impact_queries == 1
    earlier = await traffic_link.impact("shop", "c", before - timedelta(hours=2), AT)
    assert earlier is not None and earlier.callers and traffic.impact_queries == 2
    clock.now += QUIET_FOR
    await traffic_link.impact("shop", "d", before, AT)
    assert traffic.impact_queries == 3


async def test_an_answer_that_does_not_say_what_it_holds_keeps_every_question_asked(
    traffic: TrafficStandIn, link: tuple[TrafficLink, Clock]
) -> None:
    traffic_link, _ = link
    traffic.newest_drop = traffic.newest_flow = None  # an older traffic-store
    for pod in ("a", "b", "c"):
        await traffic_link.reports_drops([failure(pod)])
        await traffic_link.impact("shop", pod, AT - timedelta(minutes=15), AT)
    assert (traffic.drop_queries, traffic.impact_queries) == (3, 3)


async def test_with_no_quiet_time_every_question_is_asked(
    traffic: TrafficStandIn, nc: NATS
) -> None:
    traffic_link = TrafficLink(nc, timeout=5.0, quiet_for=0.0, clock=Clock())
    await traffic_link.start()
    try:
        for pod in ("a", "b"):
            await traffic_link.reports_drops([failure(pod)])
            await traffic_link.impact("shop", pod, AT - timedelta(minutes=15), AT)
    finally:
        await traffic_link.stop()
    assert (traffic.drop_queries, traffic.impact_queries) == (2, 2)
