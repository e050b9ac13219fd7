"""arkyn collector logs: validation and routing of ``kubeward.collect.http-log``.

A message holds what ``@arkyn/server``'s ``logRequest`` posts to ``/ingest-log``: one
transaction with its URL parts, status, timing and headers/bodies as JSON texts. Checks
follow arkyn's ingest schema, liberally (any HTTP method, protocol in any case). Valid logs
go to ``kubeward.traffic.http-log`` with their origin and the digest of their bytes, which
traffic-store uses as the idempotency key. Reasons name the field (``field: problem``) so
the gateway can answer arkyn's ``fieldErrors``.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

import msgspec
from nats.aio.msg import Msg

from kubeward.core.bus import stream_seq
from kubeward.ingest.routing import CollectRouter, Reject, origin_us
from kubeward.schemas import bus
from kubeward.schemas.arkyn import ArkynLogIn, HttpLogBatch, HttpLogGroup
from kubeward.schemas.http_traffic import HTTP_METHODS, is_id_token

KIND = "http-log"
PROTOCOLS = frozenset({"http", "https"})

_decoder = msgspec.json.Decoder(ArkynLogIn)
_AT = re.compile(r"^(?P<msg>.*) - at `\$\.?(?P<path>[^`]*)`$")


def digest(data: bytes) -> str:
    """The idempotency key of a posted log: identical bytes, identical key."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _field_reason(exc: msgspec.ValidationError) -> str:
    """msgspec's ``Expected int - at `$.status``` as ``status: Expected int``."""
    text = str(exc)
    match = _AT.match(text)
    if match is None:
        return f"body: {text}"
    return f"{match['path'] or 'body'}: {match['msg']}"


def check(record: ArkynLogIn) -> ArkynLogIn:
    """What the schema cannot express; ``ValueError`` naming the field."""
    url = urlsplit(record.domain_url)
    if url.scheme.lower() not in PROTOCOLS or not url.netloc:
        raise ValueError("domainUrl: Invalid URL format")
    if not record.pathname_url.startswith("/"):
        raise ValueError("pathnameUrl: Pathname must start with /")
    if not is_id_token(record.traffic_source_id):
        raise ValueError("trafficSourceId: Invalid traffic source id format")
    protocol = record.protocol.lower()
    if protocol not in PROTOCOLS:
        raise ValueError('protocol: Invalid option: expected one of "http"|"https"')
    method = record.method.upper()
    if method not in HTTP_METHODS:
        raise ValueError(f"method: {record.method!r} is not an HTTP method")
    record.protocol = protocol
    record.method = method
    return record


def decode(data: bytes) -> ArkynLogIn:
    """Decode and check one log; ``ValueError`` (``field: problem``) when it is invalid.

    Raises ``msgspec.DecodeError`` when ``data`` is not JSON.
    """
    try:
        return check(_decoder.decode(data))
    except msgspec.ValidationError as exc:
        raise ValueError(_field_reason(exc)) from None


class HttpLogRouter(CollectRouter[ArkynLogIn, HttpLogGroup]):
    """Batch handler for ``kubeward.collect.http-log``: one log per message."""

    kind = KIND
    label = "arkyn log"
    subject = bus.TRAFFIC_HTTP_LOG
    payload = ArkynLogIn

    def parse(self, msg: Msg) -> tuple[list[ArkynLogIn], list[Reject]]:
        """One JSON object; anything else (arrays included) is rejected whole."""
        if msg.data.lstrip()[:1] != b"{":
            raise ValueError("body: Expected one JSON object")
        try:
            return [decode(msg.data)], []
        except msgspec.DecodeError as exc:
            raise ValueError(f"body: malformed JSON: {exc}") from None

    def detail(self, reasons: str) -> str:
        """Plain ``field: problem`` reasons: the gateway turns them into ``fieldErrors``."""
        return reasons

    def group(self, msg: Msg, reply_to: str | None, records: list[ArkynLogIn]) -> HttpLogGroup:
        """The log with its origin and the digest of its bytes."""
        return HttpLogGroup(
            origin_seq=stream_seq(msg),
            origin_us=origin_us(msg),
            reply_to=reply_to,
            digest=digest(msg.data),
            record=records[0],
        )

    def batch(self, groups: list[HttpLogGroup]) -> HttpLogBatch:
        """One ``kubeward.traffic.http-log`` message."""
        return HttpLogBatch(groups=groups)

    def origin_seq(self, group: HttpLogGroup) -> int:
        """The group's collect sequence."""
        return group.origin_seq
