"""An AsyncAPI 3.0 document of the whole bus, built from :mod:`kubeward.schemas.bus`.

``python -m kubeward.schemas.asyncapi > docs/asyncapi.json`` regenerates the published copy
(``make asyncapi``); a test keeps it in sync.
"""

from __future__ import annotations

import sys
from typing import Any

import msgspec

from kubeward.schemas import bus
from kubeward.schemas.http_traffic import (
    HttpEntityCreate,
    HttpTrafficBatch,
    HttpTrafficIn,
    HttpTrafficQuery,
)
from kubeward.schemas.traffic import PodTrafficBatch, PodTrafficEvent, PodTrafficQuery

PAYLOAD_TYPES: dict[str, Any] = {
    "PodTrafficEvent": PodTrafficEvent,
    "PodTrafficBatch": PodTrafficBatch,
    "PodTrafficQuery": PodTrafficQuery,
    "HttpTrafficIn": HttpTrafficIn,
    "HttpTrafficBatch": HttpTrafficBatch,
    "HttpEntityCreate": HttpEntityCreate,
    "HttpTrafficQuery": HttpTrafficQuery,
}
"""Structs whose JSON Schema the document embeds, by the name used in ``SubjectSpec.payload``.

``Reply`` (status, detail, raw JSON body, count, cursor) carries raw JSON, which JSON Schema
generation cannot describe; its fields are documented in :mod:`kubeward.schemas.replies`."""


def _channel_id(subject: str) -> str:
    return subject.replace(".", "-").replace(">", "all").replace("*", "any").strip("<>")


def build() -> dict[str, Any]:
    """The AsyncAPI document as a plain dict."""
    _, components = msgspec.json.schema_components(
        list(PAYLOAD_TYPES.values()), ref_template="#/components/schemas/{name}"
    )
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for spec in bus.SUBJECTS:
        cid = _channel_id(spec.subject)
        refs = [name for name in PAYLOAD_TYPES if name in spec.payload]
        message: dict[str, Any] = {"name": cid, "summary": spec.payload}
        if refs:
            message["payload"] = {"$ref": f"#/components/schemas/{refs[0]}"}
        messages[cid] = message
        channels[cid] = {
            "address": spec.subject,
            "description": spec.description
            + (f" Stream: {spec.stream}." if spec.stream else " Core NATS request/reply."),
            "messages": {cid: {"$ref": f"#/components/messages/{cid}"}},
        }
        operations[f"publish-{cid}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{cid}"},
            "summary": f"Published by {spec.publisher}; consumed by {spec.consumer}.",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Kubeward bus",
            "version": "0.1.0",
            "description": "NATS JetStream subjects and request/reply names of Kubeward. "
            "Streams: "
            + "; ".join(
                f"{s.name} ({', '.join(s.subjects)}){' public' if s.public else ''}"
                for s in bus.STREAMS
            ),
        },
        "servers": {"nats": {"host": "localhost:4222", "protocol": "nats"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": components},
    }


def render() -> str:
    """The document as stable, indented JSON."""
    return msgspec.json.format(msgspec.json.encode(build()), indent=2).decode() + "\n"


def main() -> None:
    """Print the document."""
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
