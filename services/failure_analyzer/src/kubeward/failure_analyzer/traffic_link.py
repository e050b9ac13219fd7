"""What traffic-store knows about a failed pod's traffic, asked over the bus.

Both questions are optional extras: traffic-store may be absent, slow or failing, and then
the answer is ``None`` after at most ``timeout`` seconds, never an error. The diagnosis and
the report's handling go on without it.

Each DROP answer also says when the newest DROP, and the newest flow, stored were seen.
For ``quiet_for`` seconds after asking, a failure whose window begins after the newest
DROP is answered "no DROP" here, and one whose window begins after the newest flow "no
callers", without asking: most clusters see no DROP for long stretches (and a cluster
without kguardian no flow at all), and the DROP question cost a report a third of its
time. A flow stored within that time may be missed, as one still on its way to
traffic-store always could be (0: always ask).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal, NamedTuple, TypeVar

import msgspec
from nats.aio.client import Client as NATS

from kubeward.core.bus import NoRespondersError, ReplyInbox
from kubeward.failure_analyzer.analyzers.network_drops import log_addresses
from kubeward.failure_analyzer.report_view import ReportView
from kubeward.schemas import bus
from kubeward.schemas.network import (
    DROP_WINDOW_MINUTES,
    DropQueries,
    DropQuery,
    DropReport,
    DropReports,
    ImpactQuery,
    ImpactReport,
)
from kubeward.schemas.pod_failures import PodFailureReport
from kubeward.schemas.replies import Reply
from kubeward.schemas.traffic import TIMESTAMP_FORMAT

log = logging.getLogger(__name__)

DROPS_AFTER = timedelta(minutes=1)
"""Flows first seen this long after the failure still count (collectors send in batches)."""

_reply = msgspec.json.Decoder(Reply)
T = TypeVar("T")


class _Newest(NamedTuple):
    """What traffic-store said it held when it was last asked."""

    asked: float
    """When it was asked (the link's clock)."""
    drop: str
    """The newest DROP sighting (``""``: none)."""
    flow: str | None
    """The newest sighting of any flow (``""``: none; ``None``: not said)."""


MANY_CHUNK = 100
"""Reports per ``drops-many`` request."""


def _query(report: PodFailureReport, at: datetime, addresses: list[str]) -> DropQuery:
    """DROP flows around a failure at ``at`` (naive UTC): the
    :data:`~kubeward.schemas.network.DROP_WINDOW_MINUTES` before it and a minute after."""
    return DropQuery(
        namespace=report.namespace,
        pod_name=report.pod_name,
        since=stamp(at - timedelta(minutes=DROP_WINDOW_MINUTES)),
        until=stamp(at + DROPS_AFTER),
        addresses=addresses,
    )


def _addresses(report: PodFailureReport, view: ReportView) -> list[str]:
    """Hosts and IPs the report's logs fail to reach (none when they cannot be read)."""
    try:
        return log_addresses(view) if report.logs else []
    except Exception:
        log.exception("reading addresses of %s/%s", report.namespace, report.pod_name)
        return []


def stamp(at: datetime) -> str:
    """``at`` (naive UTC) as flows store their times."""
    return at.strftime(TIMESTAMP_FORMAT)


class TrafficLink:
    """Request/reply to traffic-store with a bounded wait."""

    def __init__(
        self,
        nc: NATS,
        timeout: float,
        *,
        quiet_for: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inbox = ReplyInbox(nc)
        self.timeout = timeout
        self._quiet_for = quiet_for
        self._clock = clock
        self._newest: _Newest | None = None

    async def start(self) -> None:
        """Subscribe to the reply inbox."""
        await self._inbox.start()

    async def stop(self) -> None:
        """Unsubscribe; waiters get ``None``."""
        await self._inbox.stop()

    async def report_drops(
        self, report: PodFailureReport, at: datetime, view: ReportView | None = None
    ) -> DropReport | None:
        """:meth:`drops` for a report, with the addresses its logs fail to reach (read
        through ``view`` when the caller has the report's view)."""
        if self.timeout <= 0:
            return None
        view = view if view is not None else ReportView(report)
        query = _query(report, at, _addresses(report, view))
        return await self._ask(bus.RPC_NETWORK_DROPS, query, DropReport)

    async def reports_drops(
        self, reports: list[tuple[PodFailureReport, datetime, ReportView]]
    ) -> list[DropReport | None]:
        """:meth:`report_drops` for a batch of (report, failure time, view): one request
        per :data:`MANY_CHUNK` reports, sent together; ``None`` for a chunk traffic-store
        did not answer."""
        if self.timeout <= 0 or not reports:
            return [None] * len(reports)
        # The logs are read for addresses only when the question is asked.
        queries = [_query(r, at, []) for r, at, _ in reports]
        found: list[DropReport | None] = [
            DropReport(since=q.since, until=q.until) if self._quiet(q.since, "drop") else None
            for q in queries
        ]
        asked = [n for n, report in enumerate(found) if report is None]
        for n in asked:
            failed, _, view = reports[n]
            queries[n].addresses = _addresses(failed, view)
        chunks = [asked[i : i + MANY_CHUNK] for i in range(0, len(asked), MANY_CHUNK)]
        at = self._clock()
        answers = await asyncio.gather(
            *(
                self._ask(
                    bus.RPC_NETWORK_DROPS_MANY,
                    DropQueries(queries=[queries[n] for n in chunk]),
                    DropReports,
                )
                for chunk in chunks
            )
        )
        for chunk, answer in zip(chunks, answers, strict=True):
            if answer is None or len(answer.reports) != len(chunk):
                continue
            for n, report in zip(chunk, answer.reports, strict=True):
                found[n] = report
            known = self._newest
            if answer.newest_drop is not None and (known is None or known.asked <= at):
                self._newest = _Newest(at, answer.newest_drop, answer.newest_flow)
        return found

    def _quiet(self, since: str, what: Literal["drop", "flow"]) -> bool:
        """Whether traffic-store, asked less than ``quiet_for`` ago, held no DROP (or no
        flow) seen at or after ``since``."""
        known = self._newest
        if known is None or self._clock() - known.asked >= self._quiet_for:
            return False
        newest = known.drop if what == "drop" else known.flow
        return newest is not None and newest < since

    async def impact(
        self, namespace: str, pod_name: str, since: datetime, until: datetime
    ) -> ImpactReport | None:
        """Who called the pod between ``since`` and ``until`` (naive UTC)."""
        query = ImpactQuery(
            namespace=namespace, pod_name=pod_name, since=stamp(since), until=stamp(until)
        )
        if self._quiet(query.since, "flow"):
            return ImpactReport(**msgspec.structs.asdict(query))
        return await self._ask(bus.RPC_NETWORK_IMPACT, query, ImpactReport)

    async def _ask(self, subject: str, query: object, answer: type[T]) -> T | None:
        if self.timeout <= 0:
            return None
        try:
            raw = await self._inbox.request(subject, msgspec.json.encode(query), self.timeout)
            reply = _reply.decode(raw)
            if reply.status != 200:
                log.warning("%s answered %s: %s", subject, reply.status, reply.detail)
                return None
            return msgspec.json.decode(reply.body, type=answer)
        except (TimeoutError, NoRespondersError):
            log.info("%s: traffic-store did not answer; going on without it", subject)
        except Exception:  # whatever it is, the report is handled without it
            log.exception("%s: unusable answer", subject)
        return None
