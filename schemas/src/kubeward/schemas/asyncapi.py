"""An AsyncAPI 3.0 document of the whole bus, built from :mod:`kubeward.schemas.bus`.

Every subject of :data:`~kubeward.schemas.bus.SUBJECTS` names its body's type (and a
request's reply type); the document carries the JSON Schema of each
(``msgspec.json.schema_components``), so it cannot drift from the Structs the services
decode. ``python -m kubeward.schemas.asyncapi > docs/asyncapi.json`` regenerates the
published copy (``make asyncapi``); ``schemas/tests/test_bus.py`` fails when it is stale.
"""

from __future__ import annotations

import re
import sys
import types
import typing
from typing import Annotated, Any

import msgspec

from kubeward.schemas import bus

REF_TEMPLATE = "#/components/schemas/{name}"
CONTENT_TYPES: dict[str, str] = {
    "json": "application/json",
    "msgpack": "application/msgpack",
    "bytes": "application/octet-stream",
}


def _channel_id(subject: str) -> str:
    """``kubeward.deadletter.<stage>`` -> ``kubeward-deadletter-stage``; ``*`` -> ``any``."""
    named = re.sub(r"<(\w+)>", r"\1", subject)
    return named.replace(".", "-").replace(">", "all").replace("*", "any")


_RAW = msgspec.Meta(description="Raw JSON: any value, described by the subject's note.")


def _describable(kind: Any) -> Any:
    """``kind``, or for a Struct with ``msgspec.Raw`` fields (``Reply.body``: raw JSON, which
    JSON Schema generation cannot describe) a twin of it with those fields typed ``Any``."""
    if not (isinstance(kind, type) and issubclass(kind, msgspec.Struct)):
        return kind
    fields = msgspec.structs.fields(kind)
    if not any(f.type is msgspec.Raw for f in fields):
        return kind
    twin: list[tuple[str, Any, Any]] = []
    for f in fields:
        if f.type is msgspec.Raw:
            default = None if f.default == msgspec.Raw(b"null") else msgspec.NODEFAULT
            twin.append((f.encode_name, Annotated[Any, _RAW], default))
        else:
            twin.append((f.encode_name, f.type, f.default))
    out: type = msgspec.defstruct(kind.__name__, twin, kw_only=True, module=kind.__module__)
    out.__doc__ = kind.__doc__
    return out


def type_name(kind: Any) -> str:
    """``PodTrafficEvent``, ``SetStatus | Dismiss``, ``dict[str, Any]``, ``empty``."""
    if kind is None:
        return "empty"
    if kind is Any:
        return "bytes"
    if typing.get_origin(kind) in (types.UnionType, typing.Union):
        return " | ".join(type_name(arg) for arg in typing.get_args(kind))
    if isinstance(kind, type) and not typing.get_args(kind):
        return kind.__name__
    return repr(kind).replace("typing.", "")


def _types() -> list[Any]:
    """Every body type of the bus, once each, in table order."""
    kinds = (kind for spec in bus.SUBJECTS for kind in (spec.payload, spec.reply))
    return list(dict.fromkeys(kind for kind in kinds if kind is not None))


def _schema_of(kind: Any, schemas: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    if kind is None:
        return {"description": "An empty message."}
    return schemas[kind]


def build() -> dict[str, Any]:
    """The AsyncAPI document as a plain dict."""
    kinds = _types()
    refs, components = msgspec.json.schema_components(
        [_describable(kind) for kind in kinds], ref_template=REF_TEMPLATE
    )
    schemas = dict(zip(kinds, refs, strict=True))
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for spec in bus.SUBJECTS:
        cid = _channel_id(spec.subject)
        name = type_name(spec.payload)
        summary = f"{name} ({spec.encoding})" + (f". {spec.note}" if spec.note else "")
        messages[cid] = {
            "name": cid,
            "title": name,
            "summary": summary,
            "contentType": CONTENT_TYPES[spec.encoding],
            "payload": _schema_of(spec.payload, schemas),
        }
        sent = [cid]
        if spec.many:
            messages[f"{cid}-array"] = {
                "name": f"{cid}-array",
                "title": f"list[{name}]",
                "summary": f"A JSON array of {name}, handled as one message.",
                "contentType": CONTENT_TYPES[spec.encoding],
                "payload": {"type": "array", "items": _schema_of(spec.payload, schemas)},
            }
            sent.append(f"{cid}-array")
        channels[cid] = {
            "address": spec.subject,
            "description": spec.description
            + (f" Stream: {spec.stream}." if spec.stream else " Core NATS request/reply."),
            "messages": {m: {"$ref": f"#/components/messages/{m}"} for m in sent},
        }
        operation: dict[str, Any] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{cid}"},
            "summary": f"Published by {spec.publisher}; consumed by {spec.consumer}.",
            "messages": [{"$ref": f"#/channels/{cid}/messages/{m}"} for m in sent],
        }
        if spec.reply is not None:
            reply_name = type_name(spec.reply)
            messages[f"{cid}-reply"] = {
                "name": f"{cid}-reply",
                "title": reply_name,
                "summary": f"The reply, on the request's NATS inbox: {reply_name}.",
                "contentType": "text/plain" if spec.reply is str else "application/json",
                "payload": _schema_of(spec.reply, schemas),
            }
            operation["reply"] = {"messages": [{"$ref": f"#/components/messages/{cid}-reply"}]}
        operations[f"publish-{cid}"] = operation
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
