"""The OpenAPI document describes response bodies, and the fixtures' check of real answers
against it catches a body the document misdescribes."""

from __future__ import annotations

import re

import msgspec
import pytest

from kubeward.devstack.openapi_responses import ResponseSchemas, SchemaMismatchError
from kubeward.gateway.app import create_app
from kubeward.gateway.settings import Settings

JSON = "application/json"


@pytest.fixture(scope="module")
def spec() -> dict[str, object]:
    app = create_app(Settings())
    return app.openapi_schema.to_schema()


def test_bus_backed_routes_declare_their_bodies(spec: dict[str, object]) -> None:
    paths = spec["paths"]
    assert isinstance(paths, dict)
    undeclared = sorted(
        f"{method.upper()} {path}"
        for path, item in paths.items()
        for method, operation in item.items()
        if method in ("get", "put", "post", "delete", "patch")
        for status, response in operation["responses"].items()
        if status.startswith("2")
        and response.get("content", {}).get(JSON, {}).get("schema", {"x": 1}) == {}
    )
    # What is left: a Kubernetes object as the cluster has it, passed through as is.
    assert undeclared == ["GET /api/diagram/manifest/{ns}/{kind}/{name}"]
    schemas = spec["components"]
    assert isinstance(schemas, dict)
    failure = schemas["schemas"]["PodFailure"]
    assert {"id", "pod_name", "solution", "timestamp"} <= set(failure["required"])


def test_a_body_its_schema_rejects_fails_the_check() -> None:
    schemas = ResponseSchemas.of_litestar(create_app(Settings()))
    good = {"message": "Pod failure dismissed"}
    schemas.check("DELETE", "/api/pods/failed/7", 200, JSON, msgspec.json.encode(good))
    with pytest.raises(SchemaMismatchError, match="message"):
        schemas.check("DELETE", "/api/pods/failed/7", 200, JSON, b'{"msg": "dismissed"}')
    with pytest.raises(SchemaMismatchError, match="DELETE /pathnames/"):
        schemas.check("DELETE", "/pathnames/p1", 200, JSON, b"{}")  # declared: null
    # Errors and non-JSON answers are not checked against the success schema.
    schemas.check("DELETE", "/api/pods/failed/7", 404, JSON, b'{"detail": "Not found"}')
    schemas.check("GET", "/pod/name/x", 200, "text/plain", b"No data found")
    # The most literal route wins, as in the router: /pod/traffic/batch is not /{name}.
    schemas.check("POST", "/pod/traffic/batch", 200, JSON, b"3")
    with pytest.raises(SchemaMismatchError):
        schemas.check("POST", "/pod/traffic/batch", 200, JSON, b"[]")
    # A path parameter of type path spans slashes.
    registry = b'{"message": "Registry removed", "registry": "ghcr.io/acme"}'
    schemas.check("DELETE", "/api/security/trusted-registries/ghcr.io/acme", 200, JSON, registry)
    with pytest.raises(SchemaMismatchError):
        schemas.check("DELETE", "/api/security/trusted-registries/ghcr.io/acme", 200, JSON, b"1")


async def test_the_asgi_wrapper_keeps_what_it_saw_break_a_schema() -> None:
    schemas = ResponseSchemas.of_litestar(create_app(Settings()))
    sent: list[dict[str, object]] = []

    def answering(body: bytes, content_type: bytes = b"application/json") -> object:
        async def app(scope: dict[str, object], receive: object, send: object) -> None:
            assert callable(send)
            headers = [(b"content-type", content_type)]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body[:3], "more_body": True})
            await send({"type": "http.response.body", "body": body[3:]})

        return app

    async def call(app: object, path: str) -> None:
        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "DELETE", "path": path}
        await schemas.asgi(app)(scope, None, send)

    await call(answering(b'{"message": "Pod failure dismissed"}'), "/api/pods/failed/7")
    await call(answering(b"not json at all", b"text/plain"), "/api/pods/failed/7")
    schemas.assert_clean()
    bad = b'{"msg": "dismissed"}'
    await call(answering(bad), "/api/pods/failed/7")
    assert len(sent) == 9  # every message went out unchanged
    assert sent[-2:] == [
        {"type": "http.response.body", "body": bad[:3], "more_body": True},
        {"type": "http.response.body", "body": bad[3:]},
    ]
    with pytest.raises(SchemaMismatchError, match=re.escape("DELETE /api/pods/failed/{pod_id}")):
        schemas.assert_clean()


COLLECTOR_BODIES = {
    "POST /pod/traffic": "PodTrafficEvent",
    "POST /pod/traffic/batch": "PodTrafficEvent[]",
    "POST /pod/spec": "PodDetail",
    "POST /svc/spec": "SvcDetail",
    "POST /pod/mark_dead": "MarkDead",
    "POST /pod/syscalls": "PodSyscalls[]",
    "POST /api/pods/failed": "PodFailureReport",
    "POST /api/security/findings": "SecurityFindingIn",
    "POST /traffic-source": "TrafficSourceIn",
    "POST /domain/{traffic_source_id}": "DomainIn",
    "POST /pathname/{traffic_source_id}/{domain_id}": "PathnameIn",
    "POST /request": "RequestIn",
    "POST /response": "ResponseIn",
    "POST /http-traffic/{traffic_source_id}": "HttpTrafficIn",
    "POST /ingest-log": "ArkynLogIn",
    "POST /http-traffic-records/{traffic_source_id}": "ArkynLogIn",
    "POST /traffic-sources": "TrafficSourceIn",
    "PUT /traffic-sources/{source_id}": "SourceUpdate",
    "POST /domains/{source_id}": "DomainIn",
    "POST /pathnames/{source_id}/{domain_id}": "PathnameIn",
    "POST /http-traffics/{source_id}": "HttpTrafficIn",
    "POST /requests": "ExchangeIn",
    "POST /responses": "ExchangeIn",
}
"""The routes that forward their body's bytes unparsed, and the schema each documents."""


def test_routes_forwarding_raw_bodies_document_them(spec: dict[str, object]) -> None:
    """Their handlers read the bytes (ingest validates them, each client's quirks included:
    the routes' own tests send bodies the schema would refuse); the document still says
    what to send."""
    paths = spec["paths"]
    assert isinstance(paths, dict)
    documented: dict[str, str] = {}
    for route in COLLECTOR_BODIES:
        method, path = route.split(" ", 1)
        body = paths[path][method.lower()].get("requestBody") or {}
        schema = body.get("content", {}).get(JSON, {}).get("schema", {})
        if schema.get("type") == "array":
            documented[route] = schema["items"]["$ref"].rsplit("/", 1)[-1] + "[]"
        else:
            documented[route] = str(schema.get("$ref", "")).rsplit("/", 1)[-1]
    assert documented == COLLECTOR_BODIES
    scan = paths["/api/security/scan"]["post"]["requestBody"]["content"]
    assert scan == {"application/yaml": {"schema": {"type": "string"}}}  # manifest text
