"""How arkyn's plural routes show stored documents: the server's names, lowercase
``method``/``level``/``protocol``, ``createdAt`` as ``"MM/DD/YYYY at hh:mm:ss"`` (UTC), and
headers, bodies and query parameters as JSON texts (as sent when they were sent as texts).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from kubeward.core.mongo import Document
from kubeward.schemas.arkyn import ARKYN_CREATED_AT
from kubeward.schemas.http_traffic import SORT_KEY_FORMAT

BODY_PREVIEW = 4096
"""Characters of a body the record view previews (the full body is at ``bodyUrl``)."""


def arkyn_time(doc: Document) -> str:
    """``createdAt`` of a stored document in arkyn's ``MM/DD/YYYY at hh:mm:ss`` (UTC)."""
    ts = doc.get("ts")
    if isinstance(ts, str):
        moment = datetime.strptime(ts, SORT_KEY_FORMAT)
    else:
        moment = datetime.fromisoformat(str(doc.get("createdAt", "1970-01-01T00:00:00Z")))
    return moment.strftime(ARKYN_CREATED_AT)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


def render_source(doc: Document) -> dict[str, Any]:
    """A traffic source as arkyn-logs answers it."""
    updated = arkyn_time({"createdAt": doc["updatedAt"]}) if doc.get("updatedAt") else None
    return {
        "id": doc["_id"],
        "name": doc["name"],
        "trafficDomain": doc.get("trafficDomain") or "",
        "userId": doc.get("userId") or "",
        "createdAt": arkyn_time(doc),
        "updatedAt": updated or arkyn_time(doc),
    }


def render_domain(doc: Document) -> dict[str, Any]:
    """A domain, protocol lowercase."""
    return {
        "id": doc["_id"],
        "value": doc["value"],
        "protocol": str(doc["protocol"]).lower(),
        "trafficSourceId": doc["trafficSourceId"],
        "createdAt": arkyn_time(doc),
    }


def render_pathname(doc: Document) -> dict[str, Any]:
    """A pathname."""
    return {
        "id": doc["_id"],
        "value": doc["value"],
        "domainId": doc["domainId"],
        "trafficSourceId": doc["trafficSourceId"],
        "createdAt": arkyn_time(doc),
    }


def render_traffic(doc: Document) -> dict[str, Any]:
    """An HttpTraffic record, method and level lowercase."""
    return {
        "id": doc["_id"],
        "status": doc["status"],
        "method": str(doc["method"]).lower(),
        "level": str(doc["level"]).lower(),
        "elapsedTime": doc["elapsedTime"],
        "trafficUserId": doc.get("trafficUserId"),
        "trafficSourceId": doc["trafficSourceId"],
        "domainId": doc["domainId"],
        "pathnameId": doc["pathnameId"],
        "requestId": doc["requestId"],
        "responseId": doc["responseId"],
        "createdAt": arkyn_time(doc),
    }


def exchange_texts(doc: Document) -> dict[str, Any]:
    """A stored request/response as arkyn's texts: as sent when sent as texts."""
    raw = doc.get("raw")
    if isinstance(raw, dict):
        return dict(raw)
    parsed = msgspec.json.decode(doc["json"])
    texts = {"headers": _text(parsed.get("headers", {})), "body": None}
    if parsed.get("body") is not None:
        texts["body"] = _text(parsed["body"])
    if "queryParams" in parsed:
        texts["queryParams"] = _text(parsed["queryParams"])
    return texts


def render_exchange(doc: Document, kind: str) -> dict[str, Any]:
    """``GET /requests/{id}`` / ``GET /responses/{id}``."""
    texts = exchange_texts(doc)
    out: dict[str, Any] = {"id": doc["_id"], "headers": texts.get("headers") or "{}"}
    out["body"] = texts.get("body")
    if kind == "requests":
        out["queryParams"] = texts.get("queryParams") or "{}"
    out["createdAt"] = arkyn_time(doc)
    return out


def _record_part(doc: Document | None, path: str, with_query: bool) -> dict[str, Any]:
    texts = exchange_texts(doc) if doc is not None else {}
    body = texts.get("body")
    part: dict[str, Any] = {
        "headers": texts.get("headers") or "{}",
        "bodyPreview": (body or "")[:BODY_PREVIEW],
        "bodyUrl": path,
    }
    if with_query:
        part["queryParams"] = texts.get("queryParams") or "{}"
    part["createdAt"] = arkyn_time(doc) if doc is not None else ""
    return part


def _origin(domain: Document | None) -> str:
    if domain is None:
        return ""
    value = str(domain["value"])
    if "://" in value:
        return value
    return f"{str(domain['protocol']).lower()}://{value}"


def render_record(
    doc: Document,
    domain: Document | None,
    pathname: Document | None,
    request: Document | None,
    response: Document | None,
) -> dict[str, Any]:
    """The composed record (arkyn-logs' HttpTrafficRecord view, as arkyn-panel reads it)."""
    return {
        "id": doc["_id"],
        "status": doc["status"],
        "method": str(doc["method"]).lower(),
        "level": str(doc["level"]).lower(),
        "protocol": str(domain["protocol"]).lower() if domain else "",
        "elapsedTime": doc["elapsedTime"],
        "trafficUserId": doc.get("trafficUserId"),
        "trafficSourceId": doc["trafficSourceId"],
        "domain": _origin(domain),
        "pathname": pathname["value"] if pathname else "",
        "request": _record_part(request, f"/requests/{doc['requestId']}", True),
        "response": _record_part(response, f"/responses/{doc['responseId']}", False),
        "createdAt": arkyn_time(doc),
    }
