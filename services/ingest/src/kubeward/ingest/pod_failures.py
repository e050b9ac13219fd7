"""Kure failed-pod reports in ingest: validation and routing of ``kubeward.collect.pod-failures``.

A collect message holds one report (or, from agents that batch, a JSON array of them).
Valid reports go to ``kubeward.failures.report`` with their origin sequence and index, from
which failure-analyzer makes redelivery idempotent. A report without pod name or namespace
is answered with Kure's own 400 detail, ``Pod name and namespace are required``.
"""

from __future__ import annotations

import msgspec
from nats.aio.msg import Msg

from kubeward.core.bus import stream_seq
from kubeward.ingest.routing import CollectRouter, Reject, origin_us, parse_records
from kubeward.schemas import bus
from kubeward.schemas.pod_failures import (
    MAX_NAME,
    NAME_REQUIRED,
    FailureReportBatch,
    FailureReportEnvelope,
    PodFailureReport,
)

KIND = "pod-failures"
MAX_NAMESPACE = 63

_one = msgspec.json.Decoder(PodFailureReport)


def normalise(report: PodFailureReport) -> PodFailureReport:
    """Check what the schema cannot express; ``ValueError`` naming the problem."""
    report.pod_name = report.pod_name.strip()
    report.namespace = report.namespace.strip()
    if not report.pod_name or not report.namespace:
        raise ValueError(NAME_REQUIRED)
    if len(report.pod_name) > MAX_NAME:
        raise ValueError(f"pod_name: longer than {MAX_NAME} characters")
    if len(report.namespace) > MAX_NAMESPACE:
        raise ValueError(f"namespace: longer than {MAX_NAMESPACE} characters")
    if not (report.failure_reason or "").strip():
        report.failure_reason = "Unknown"
    return report


def decode_one(data: bytes | msgspec.Raw) -> PodFailureReport:
    """Decode and check one report; ``ValueError`` naming the field when it is invalid.

    Raises ``msgspec.DecodeError`` when ``data`` is not JSON.
    """
    try:
        return normalise(_one.decode(data))
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc).replace("`$.", "`").replace("`$`", "body")) from None


def parse(data: bytes) -> tuple[list[PodFailureReport], list[Reject]]:
    """Split one collect message into good reports and rejects (see ``parse_records``)."""
    return parse_records(data, decode_one)


class PodFailureRouter(CollectRouter[PodFailureReport, list[FailureReportEnvelope]]):
    """Batch handler for ``kubeward.collect.pod-failures``."""

    kind = KIND
    label = "pod failure report"
    subject = bus.FAILURES_REPORT
    payload = PodFailureReport

    def detail(self, reasons: str) -> str:
        """Kure's exact detail for a nameless report; otherwise name the field."""
        return reasons if reasons == NAME_REQUIRED else super().detail(reasons)

    def parse(self, msg: Msg) -> tuple[list[PodFailureReport], list[Reject]]:
        """See :func:`parse`."""
        return parse(msg.data)

    def group(
        self, msg: Msg, reply_to: str | None, records: list[PodFailureReport]
    ) -> list[FailureReportEnvelope]:
        """One envelope per report, carrying where it came from and who waits for it."""
        seq, at = stream_seq(msg), origin_us(msg)
        return [
            FailureReportEnvelope(
                origin_seq=seq, index=index, origin_us=at, reply_to=reply_to, report=report
            )
            for index, report in enumerate(records)
        ]

    def batch(self, groups: list[list[FailureReportEnvelope]]) -> FailureReportBatch:
        """One ``kubeward.failures.report`` message."""
        return FailureReportBatch(reports=[envelope for group in groups for envelope in group])

    def origin_seq(self, group: list[FailureReportEnvelope]) -> int:
        """The group's collect sequence (0 for an HTTP caller's empty array)."""
        return group[0].origin_seq if group else 0
