"""arkyn HTTP traffic: validation and routing of ``kubeward.collect.http-traffic.<sourceId>``.

A collect message holds one HttpTraffic body (or, from collectors, a JSON array of them);
the subject's last token is the trafficSourceId. Invalid input from HTTP (the gateway set
``Kubeward-Reply-To``) is answered with a 400 naming the field and nothing goes on; invalid
bus input is dead-lettered record by record with the reason. Valid records are published
to ``kubeward.traffic.http`` with the origin sequence and time, from which traffic-store
derives each record's stable id and ``createdAt``.
"""

from __future__ import annotations

import msgspec
from nats.aio.msg import Msg

from kubeward.core.bus import stream_seq
from kubeward.ingest.routing import CollectRouter, Reject, origin_us, parse_records
from kubeward.schemas import bus
from kubeward.schemas.http_traffic import (
    HTTP_METHODS,
    HttpTrafficBatch,
    HttpTrafficGroup,
    HttpTrafficIn,
    is_id_token,
)

KIND = "http-traffic"

_one = msgspec.json.Decoder(HttpTrafficIn)


def source_id(subject: str) -> str:
    """The trafficSourceId a collect subject names; ``ValueError`` when it names none."""
    token = subject[len(bus.COLLECT_HTTP_TRAFFIC_PREFIX) :]
    if not subject.startswith(bus.COLLECT_HTTP_TRAFFIC_PREFIX) or not is_id_token(token):
        raise ValueError(f"trafficSourceId: {token!r} is not a valid id")
    return token


def normalise(record: HttpTrafficIn) -> HttpTrafficIn:
    """Check what the schema cannot express; ``ValueError`` naming the field."""
    method = record.method.upper()
    if method not in HTTP_METHODS:
        raise ValueError(
            f"method: {record.method!r} is not one of {', '.join(sorted(HTTP_METHODS))}"
        )
    record.method = method
    return record


def decode_one(data: bytes | msgspec.Raw) -> HttpTrafficIn:
    """Decode and check one record; ``ValueError`` naming the field when it is invalid.

    Raises ``msgspec.DecodeError`` when ``data`` is not JSON.
    """
    try:
        return normalise(_one.decode(data))
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc).replace("`$.", "`").replace("`$`", "body")) from None


def parse(data: bytes) -> tuple[list[HttpTrafficIn], list[Reject]]:
    """Split one collect message (a record or an array of records) into good and bad ones.

    Raises ``ValueError`` when the message is not JSON at all.
    """
    return parse_records(data, decode_one)


class HttpTrafficRouter(CollectRouter[HttpTrafficIn, HttpTrafficGroup]):
    """Batch handler for ``kubeward.collect.http-traffic.*``."""

    kind = KIND
    label = "HTTP traffic"
    subject = bus.TRAFFIC_HTTP
    payload = HttpTrafficIn

    def parse(self, msg: Msg) -> tuple[list[HttpTrafficIn], list[Reject]]:
        """The subject must name a source; the body is one record or an array."""
        source_id(msg.subject)
        return parse(msg.data)

    def group(
        self, msg: Msg, reply_to: str | None, records: list[HttpTrafficIn]
    ) -> HttpTrafficGroup:
        """Records keep their origin sequence and time: traffic-store derives ids from them."""
        return HttpTrafficGroup(
            origin_seq=stream_seq(msg),
            origin_us=origin_us(msg),
            reply_to=reply_to,
            traffic_source_id=source_id(msg.subject),
            records=records,
        )

    def batch(self, groups: list[HttpTrafficGroup]) -> HttpTrafficBatch:
        """One ``kubeward.traffic.http`` message."""
        return HttpTrafficBatch(groups=groups)

    def origin_seq(self, group: HttpTrafficGroup) -> int:
        """The group's collect sequence."""
        return group.origin_seq
