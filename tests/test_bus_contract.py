"""The bus contract (``kubeward.schemas.bus.SUBJECTS``, from which the AsyncAPI document is
generated) is read against the handlers: every service runs in-process, and every subject
its runtime consumes or answers must be listed for it, with the stream and (for a request)
the type the handler decodes; every subject listed for a service must be handled by it.
"""

from __future__ import annotations

import re
from contextlib import AsyncExitStack
from typing import Any

from kubeward.core.batch_consumers import Handled
from kubeward.core.service import serving
from kubeward.failure_analyzer.app import failure_analyzer
from kubeward.failure_analyzer.settings import Settings as AnalyzerSettings
from kubeward.ingest.app import ingest
from kubeward.ingest.settings import Settings as IngestSettings
from kubeward.mirror.app import mirror
from kubeward.mirror.settings import Settings as MirrorSettings
from kubeward.schemas import bus
from kubeward.security.app import security
from kubeward.security.settings import Settings as SecuritySettings
from kubeward.traffic_store.app import traffic_store
from kubeward.traffic_store.settings import Settings as StoreSettings

SERVICES = ("ingest", "traffic-store", "failure-analyzer", "security", "mirror")


def _pattern(subject: str) -> re.Pattern[str]:
    """A contract subject as a regex: ``<token>`` and ``*`` stand for one token, ``>`` for
    the rest."""
    parts = []
    for token in subject.split("."):
        if token == ">":
            parts.append(r"[^.]+(\.[^.]+)*")
        elif token == "*" or re.fullmatch(r"<\w+>", token):
            parts.append(r"[^.*>]+|\*")
        else:
            parts.append(re.escape(token))
    return re.compile(r"\.".join(f"(?:{p})" for p in parts))


def _listed_for(service: str, handled: Handled) -> list[bus.SubjectSpec]:
    return [
        spec
        for spec in bus.SUBJECTS
        if service in [c.strip() for c in spec.consumer.split(",")]
        and _pattern(spec.subject).fullmatch(handled.subject)
    ]


async def _handled(nats_url: str, mongo_url: str, mongo_db_name: str) -> dict[str, list[Handled]]:
    common: dict[str, Any] = {"nats_url": nats_url, "mongodb_url": mongo_url}
    common["mongodb_db"] = mongo_db_name
    secret = common | {"settings_secret": "contract-test-secret-0123456789abcdef"}
    made: dict[str, tuple[Any, Any]] = {
        "ingest": (IngestSettings(nats_url=nats_url), ingest),
        "traffic-store": (StoreSettings(**common), traffic_store),
        "failure-analyzer": (AnalyzerSettings(**secret), failure_analyzer),
        "security": (SecuritySettings(**secret), security),
        "mirror": (MirrorSettings(**secret), mirror),
    }
    found: dict[str, list[Handled]] = {}
    async with AsyncExitStack() as stack:
        for name in SERVICES:
            settings, body = made[name]
            ctx = await stack.enter_async_context(serving(name, settings, body))
            found[name] = list(ctx.bus_runtime().handled)
    return found


async def test_every_handler_is_in_the_contract_and_every_listed_subject_is_handled(
    nats_url: str, mongo_url: str, mongo_db_name: str
) -> None:
    handled = await _handled(nats_url, mongo_url, mongo_db_name)
    problems: list[str] = []
    for service, subjects in handled.items():
        assert subjects, f"{service} registered nothing on its runtime"
        for h in subjects:
            specs = _listed_for(service, h)
            if not specs:
                problems.append(f"{service} handles {h.subject}, not listed for it")
                continue
            spec = specs[0]
            if spec.stream != h.stream:
                problems.append(f"{h.subject}: stream {h.stream}, listed {spec.stream}")
            if h.stream is not None and h.payload is None:
                problems.append(f"{service}'s handler of {h.subject} names no payload type")
            elif spec.payload != h.payload:
                problems.append(f"{h.subject}: decodes {h.payload!r}, listed {spec.payload!r}")
    for spec in bus.SUBJECTS:
        for service in (c.strip() for c in spec.consumer.split(",")):
            if service not in handled:
                continue  # the gateway, operators
            pattern = _pattern(spec.subject)
            if not any(pattern.fullmatch(h.subject) for h in handled[service]):
                problems.append(f"{spec.subject} is listed for {service}, which does not handle it")
    assert problems == [], "\n".join(problems)
