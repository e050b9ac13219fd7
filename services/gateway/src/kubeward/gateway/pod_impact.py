"""``GET /api/pods/failed/{id}/impact``: who was hit by a failure (its blast radius).

The failure's pod and time come from failure-analyzer (the record's ``first_seen``); the
callers from traffic-store: the workloads whose connections reached the pod, or a Service
selecting it, in the window around the failure, with connection and DROP counts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from kubeward.gateway.buslink import BusLink
from kubeward.gateway.errors import json_reply
from kubeward.gateway.params import path_id
from kubeward.gateway.pod_failures import NOT_FOUND, UNAVAILABLE
from kubeward.gateway.responses import FailureImpact, declare
from kubeward.schemas import bus
from kubeward.schemas.network import (
    IMPACT_MINUTES_AFTER,
    IMPACT_MINUTES_BEFORE,
    IMPACT_MINUTES_MAX,
    ImpactQuery,
)
from kubeward.schemas.pod_failures import GetFailure
from kubeward.schemas.replies import Reply, error
from kubeward.schemas.traffic import TIMESTAMP_FORMAT

TRAFFIC_UNAVAILABLE = "Traffic store is not available"


class _Record(msgspec.Struct):
    id: int
    namespace: str
    pod_name: str
    first_seen: str


def _stamp(at: datetime) -> str:
    return at.strftime(TIMESTAMP_FORMAT)


def _window(first_seen: str, minutes: int) -> tuple[str, str]:
    """``[failure - minutes, failure + IMPACT_MINUTES_AFTER)`` in stored form."""
    at = datetime.fromisoformat(first_seen.replace("Z", "+00:00")).replace(tzinfo=None)
    since = at - timedelta(minutes=minutes)
    return _stamp(since), _stamp(at + timedelta(minutes=IMPACT_MINUTES_AFTER))


class PodImpactController(Controller):
    """The blast radius of a failed pod."""

    path = "/api/pods"
    tags = ["pods"]

    @get(
        "/failed/{pod_id:str}/impact",
        summary="Who a failure hit: the workloads that called the pod",
        description="The workloads whose connections reached the failed pod, directly or "
        f"through a Service selecting it, from `minutes` (default {IMPACT_MINUTES_BEFORE}, "
        f"1 to {IMPACT_MINUTES_MAX}) before the failure was first reported to "
        f"{IMPACT_MINUTES_AFTER} minutes after, from kguardian's flows: per caller the "
        "connections seen (from either end, counted once), their hits, how many were "
        "DROPped by a NetworkPolicy, the ports and the path (pod or Service).",
        responses=declare(FailureImpact, "The pod's callers in the window"),
    )
    async def impact(
        self,
        link: NamedDependency[BusLink],
        pod_id: FromPath[str],
        minutes: Annotated[
            int, QueryParameter(ge=1, le=IMPACT_MINUTES_MAX, description="Minutes before")
        ] = IMPACT_MINUTES_BEFORE,
    ) -> Response[Any]:
        """404 for an unknown failure id; 503 when a service does not answer."""
        command = GetFailure(id=path_id(pod_id, NOT_FOUND))
        found = await link.ask(bus.RPC_FAILURES_COMMAND, msgspec.json.encode(command), UNAVAILABLE)
        if not found.ok:
            return json_reply(found)
        record = msgspec.json.decode(found.body, type=_Record)
        since, until = _window(record.first_seen, minutes)
        query = ImpactQuery(
            namespace=record.namespace, pod_name=record.pod_name, since=since, until=until
        )
        reply = await link.ask(
            bus.RPC_NETWORK_IMPACT, msgspec.json.encode(query), TRAFFIC_UNAVAILABLE
        )
        if not reply.ok:
            return json_reply(reply)
        body = msgspec.json.decode(reply.body)
        if not isinstance(body, dict):
            return json_reply(error(502, "Unexpected answer from the traffic store"))
        answer = {"id": record.id, "minutes_before": minutes, "minutes_after": IMPACT_MINUTES_AFTER}
        return json_reply(Reply(body=msgspec.Raw(msgspec.json.encode(answer | body))))
