"""Documents as the services store them, generated from a seed: security findings
(security's ``security_findings``), pod-traffic flows (traffic-store's ``pod_traffic``) and
arkyn HTTP traffic records (traffic-store's ``http_traffic``), for filling a database
directly with ``insert_many``: the factory ``bench.listings`` and tests share.

The times are spread over the day before :data:`END`; pods and namespaces repeat
(:data:`PODS` pods in :data:`NAMESPACES` namespaces). The HTTP records need a traffic
source and its entities made by the service first (:func:`http_world`), and are returned as
:class:`~kubeward.schemas.http_traffic.HttpTraffic` values: traffic-store's
``traffic_document`` turns each into its stored form.

Typical use::

    rng = random.Random(7)
    await db["security_findings"].insert_many(finding_docs(1000, rng))
    flows, offsets = flow_docs(10_000, rng)
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from kubeward.core.facets import facets_of
from kubeward.schemas.http_traffic import (
    EntityKind,
    HttpEntityCreate,
    HttpTraffic,
    format_created_at,
    level_for,
    uuid7,
)
from kubeward.schemas.replies import Reply
from kubeward.schemas.security import FINDING_FACETS
from kubeward.schemas.traffic import TIMESTAMP_FORMAT, PodTrafficEvent

Document = dict[str, Any]
END = datetime(2026, 6, 1, 12, 0, 0)
"""The newest time of any document (naive UTC)."""
DAY_US = 86_400_000_000
"""A day in microseconds: the documents' times span it."""
PODS = 500
"""Pods the flows belong to (``pod-0`` ... ``pod-499``)."""
NAMESPACES = 20
"""Namespaces (``ns-0`` ... ``ns-19``)."""
SEVERITIES = ("critical", "high", "medium", "low")
CHECKS = ("privileged", "host_path", "latest_tag", "no_limits", "run_as_root", "host_network")


def stamp(us: int) -> str:
    """A time ``us`` microseconds before :data:`END`, in the stored format."""
    return (END - timedelta(microseconds=us)).strftime(TIMESTAMP_FORMAT)


def spread(n: int, rng: random.Random) -> list[int]:
    """``n`` distinct offsets (microseconds before END) over one day, newest first."""
    return sorted(rng.sample(range(DAY_US), n))


# --- Security findings --------------------------------------------------------


def finding_docs(n: int, rng: random.Random) -> list[Document]:
    """``n`` findings as :class:`FindingStore` stores them, ids 1..n, one in ten dismissed."""
    now = END
    docs = []
    for i in range(1, n + 1):
        ns = f"ns-{i % NAMESPACES}"
        check = CHECKS[i % len(CHECKS)]
        severity = rng.choice(SEVERITIES)
        docs.append(
            {
                "_id": i,
                "key": f"Deployment|{ns}|app-{i}|{check}|app",
                "resource_type": "Deployment",
                "resource_name": f"app-{i}",
                "namespace": ns,
                "check_name": check,
                "severity": severity,
                "message": f"Container app of Deployment app-{i} fails {check}",
                "remediation": "Set securityContext accordingly and redeploy the workload.",
                "details": {"container": "app", "field": "securityContext"},
                "title": f"{check.replace('_', ' ').capitalize()}: app",
                "description": "The container runs with more privilege than it needs.",
                "category": "Security",
                "source": "scanner",
                "json_path": "spec.template.spec.containers[0].securityContext",
                "timestamp": now.isoformat() + "Z",
                "rule_keys": [check],
                "first_seen": now,
                "last_seen": now,
                "dismissed": i % 10 == 0,
            }
        )
        docs[-1]["facets"] = facets_of(docs[-1], FINDING_FACETS, with_all=False)
    return docs


# --- Pod traffic --------------------------------------------------------------


DROP_EVERY = 1000
"""One generated flow in this many is a DROP (in real clusters DROPs are rare)."""


def flow_docs(m: int, rng: random.Random) -> tuple[list[Document], list[int]]:
    """``m`` flows as :class:`PodTrafficStore` stores them, and their time offsets. The
    DROPs among them also need their copies (:func:`rare_flow_copies`)."""
    offsets = spread(m, rng)
    docs = []
    for i, us in enumerate(offsets):
        pod = i % PODS
        ts = stamp(us)
        peer = f"10.1.{i // 250 % 250}.{i % 250}"
        decision = "ALLOW" if i % DROP_EVERY != DROP_EVERY // 2 else "DROP"
        docs.append(
            {
                "_id": f"10.0.{pod // 250}.{pod % 250}|8080|INGRESS|{peer}|{40000 + i % 20000}"
                f"|TCP|{decision}|{i}",
                "uuid": f"{i:08x}-0000-4000-8000-000000000000",
                "pod_name": f"pod-{pod}",
                "pod_namespace": f"ns-{pod % NAMESPACES}",
                "pod_ip": f"10.0.{pod // 250}.{pod % 250}",
                "pod_port": "8080",
                "ip_protocol": "TCP",
                "traffic_type": "INGRESS" if i % 3 else "EGRESS",
                "traffic_in_out_ip": peer,
                "traffic_in_out_port": str(40000 + i % 20000),
                "decision": decision,
                "time_stamp": ts,
                "hits": 1 + i % 7,
                "first_seen": ts,
                "last_seen": ts,
                "applied": [i + 1],
                "created_seq": i + 1,
            }
        )
    return docs, offsets


def rare_flow_copies(flows: Sequence[Document]) -> list[Document]:
    """The ``pod_traffic_rare`` documents traffic-store keeps of the DROPs of ``flows``
    (made by :func:`flow_docs`): each flow's key and row."""
    fields = PodTrafficEvent.__struct_fields__
    return [
        {"_id": doc["_id"]} | {f: doc[f] for f in fields}
        for doc in flows
        if doc["decision"] != "ALLOW"
    ]


# --- HTTP traffic -------------------------------------------------------------


Create = Callable[[HttpEntityCreate], Awaitable[Reply]]
"""traffic-store's ``HttpEntities.create``."""


async def _made(create: Create, kind: EntityKind, body: object, **ids: str) -> str:
    reply = await create(HttpEntityCreate(kind=kind, body=msgspec.json.encode(body), **ids))
    if not reply.ok:
        raise RuntimeError(f"creating a {kind}: {reply.status} {reply.detail}")
    return str(msgspec.json.decode(reply.body)["id"])


async def http_world(create: Create) -> dict[str, str]:
    """A traffic source and one domain, pathname, request and response, made through
    ``create``: their ids by role (``source``, ``domain``, ``pathname``, ``request``,
    ``response``)."""
    source = await _made(create, "traffic-source", {"name": "Payments API"})
    domain = await _made(
        create,
        "domain",
        {"value": "api.example.com", "protocol": "https"},
        traffic_source_id=source,
    )
    pathname = await _made(
        create, "pathname", {"value": "/v1/pay"}, traffic_source_id=source, domain_id=domain
    )
    request, response = (await http_exchanges(create, 1))[0]
    return {
        "source": source,
        "domain": domain,
        "pathname": pathname,
        "request": request,
        "response": response,
    }


async def http_exchanges(create: Create, n: int) -> list[tuple[str, str]]:
    """``n`` (request id, response id) pairs made through ``create``: real traffic records
    each have their own, so a page of records reads as many of each."""
    return [
        (
            await _made(create, "request", {"headers": {}, "queryParams": {}}),
            await _made(create, "response", {"headers": {}}),
        )
        for _ in range(n)
    ]


def http_records(
    h: int,
    ids: dict[str, str],
    rng: random.Random,
    exchanges: Sequence[tuple[str, str]] = (),
) -> tuple[list[HttpTraffic], list[int]]:
    """``h`` records of the entities ``ids`` (as :func:`http_world` returns them), newest
    first, and their times (Unix microseconds); about one in eight has ``level``
    ``FATAL`` (status 500). With ``exchanges`` (:func:`http_exchanges`), record ``i`` has
    request and response ``exchanges[i % len(exchanges)]``, else those of ``ids``."""
    end_us = int(END.replace(tzinfo=UTC).timestamp() * 1_000_000)
    origins = [end_us - us for us in spread(h, rng)]
    pairs = exchanges or [(ids["request"], ids["response"])]
    records = []
    for i, origin in enumerate(origins):
        status = rng.choice((200, 200, 200, 201, 204, 302, 404, 500))
        moment = datetime.fromtimestamp(origin / 1e6, UTC)
        request_id, response_id = pairs[i % len(pairs)]
        records.append(
            HttpTraffic(
                id=uuid7(origin // 1000, f"bench:{i}".encode()),
                status=status,
                method="GET" if status < 300 else "POST",
                level=level_for(status),
                elapsed_time=12 + i % 300,
                traffic_user_id=None,
                traffic_source_id=ids["source"],
                domain_id=ids["domain"],
                pathname_id=ids["pathname"],
                request_id=request_id,
                response_id=response_id,
                created_at=format_created_at(moment),
            )
        )
    return records, origins
