"""Schemathesis over the gateway's own OpenAPI document: no generated request may get a 5xx.

What runs: the real gateway (``create_app`` served by uvicorn on a free port through
:func:`~kubeward.devstack.testing.serve_asgi`) with ingest, traffic-store, failure-analyzer
and security running in-process behind it (:func:`~kubeward.core.service.serving`), on the
test's NATS, MongoDB and Redis, so the bus-backed routes answer for real; its Kubernetes
client points at an empty kmock emulator (``kmock_kubeconfig``), so the pod-log routes
validate their input and answer the API's 404s rather than "no cluster" 503s. The spec is
fetched from ``/docs/openapi.json`` and loaded with ``schemathesis.openapi.from_dict``.

Threading: schemathesis sends its requests with the blocking ``requests`` library, and the
servers live in pytest-asyncio's (session) event loop. Each fuzzing pass therefore runs in
a worker thread (:func:`asyncio.to_thread`) while the loop, awaiting that thread, keeps
serving the gateway, ingest and traffic-store. Nothing else touches the loop meanwhile.

Passes, each over every operation in both generation modes (positive: data the spec
allows; negative: data it forbids):

1. as the initial admin, its ``kure_session`` cookie on every request;
2. with ``X-Service-Token``, over the operations whose routes accept the service token
   (``opt`` ``service`` / ``service_only``, read from the app's routes, not hard-coded);
3. last, and still as the admin, one at a time, the operations that can end the session
   or remove the admin (role change, password change, user deletion, logout), so they
   cannot spoil the passes before.

The WebSocket feed is not in the OpenAPI document and is not fuzzed here.

Checks: every response below 500 (the point of the test); a 2xx response must carry one
of the operation's documented status codes, and a 2xx JSON body must validate against the
schema the operation declares for it (the app is served through
:meth:`~kubeward.devstack.openapi_responses.ResponseSchemas.asgi`; checked at teardown);
no 401 in the first two passes (outside login and signup), so the credentials held and the
passes got past the guard. Failures are collected, not raised inside Hypothesis (so
nothing is shrunk and one run reports every failing operation), and the test fails listing
each with a curl command reproducing it.

Bounded and reproducible: a few examples per operation and mode, ``derandomize=True``
(or the seed ``FUZZ_SEED`` gives), no example database, no deadline.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import os
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import SearchStrategy
from litestar import Litestar
from litestar.routes import HTTPRoute
from schemathesis import Case, GenerationMode
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.schemas import OpenApiSchema

from kubeward.devstack.openapi_responses import ResponseSchemas
from kubeward.devstack.testing import serve_asgi
from kubeward.gateway.app import create_app
from kubeward.gateway.sessions import SESSION_COOKIE
from kubeward.gateway.settings import Settings as GatewaySettings

TOKEN = "fuzz-service-token"
ADMIN = {"username": "fuzz-admin", "password": "fuzzing is fun and long enough"}
MAX_EXAMPLES = 12
"""Examples per operation and generation mode."""
REQUEST_TIMEOUT = 30.0
Backing = Callable[..., AbstractAsyncContextManager[None]]
"""Seconds one generated request may take before the test fails on it."""

SPEC_PATH = "/docs/openapi.json"
SESSION_ENDERS = (
    ("PUT", "/api/admin/users/{username}/role"),
    ("PATCH", "/api/admin/users/{key}"),
    ("POST", "/api/auth/password"),
    ("DELETE", "/api/admin/users/{key}"),
    ("POST", "/api/auth/logout"),
)
"""Operations that can end the admin's session or remove it, in the order fuzzed last
(a role change ends the user's sessions too; logout ends this one for certain)."""
LOGIN_OPERATIONS = frozenset({"POST /api/auth/login", "POST /api/auth/signup"})
"""Public operations whose 401 is about the credentials in the body, not the caller."""

FUZZ_SEED = os.environ.get("FUZZ_SEED", "")
"""Empty (``make test``): the derandomized examples, the same every run. A number: other
examples, seeded by it (``FUZZ_SEED=7 uv run pytest services/gateway/tests/test_openapi_fuzz.py``
explores a new part of the input space reproducibly)."""


def _seeded(test: Callable[..., None]) -> Callable[..., None]:
    """``test`` seeded by ``FUZZ_SEED`` when it is set."""
    return seed(int(FUZZ_SEED))(test) if FUZZ_SEED else test


FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=not FUZZ_SEED,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    verbosity=Verbosity.quiet,
)


@dataclass
class Stack:
    """The running gateway and what the passes need to call it."""

    base_url: str
    app: Litestar
    spec: dict[str, Any]
    cookie: str


@dataclass
class Findings:
    """What the passes saw: each failure, and the statuses answered per operation."""

    failures: list[str] = field(default_factory=list)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)

    def seen(self, operation: str, status: int) -> None:
        """Count one answer of ``operation`` (``"METHOD /path"``)."""
        self.statuses.setdefault(operation, Counter())[status] += 1

    def report(self) -> str:
        """Distinct failures, one per line (the first few only)."""
        distinct = list(dict.fromkeys(self.failures))
        shown = "\n".join(distinct[:20])
        more = f"\n... and {len(distinct) - 20} more" if len(distinct) > 20 else ""
        return f"{len(distinct)} failing request(s):\n{shown}{more}"


@pytest.fixture
async def stack(
    backing: Backing, gateway_settings: GatewaySettings, kmock_kubeconfig: str
) -> AsyncIterator[Stack]:
    """Gateway + ingest + traffic-store + failure-analyzer + security on real
    infrastructure, with a signed-up admin."""
    secret = "fuzz-settings-secret-0123456789"
    settings = {
        "traffic-store": {"max_page": 50},
        "failure-analyzer": {"settings_secret": secret, "max_page": 50},
        "security": {"settings_secret": secret, "max_page": 50},
        "mirror": {
            "settings_secret": secret,
            "kubeconfig": kmock_kubeconfig,  # the empty emulator
            "reaper_interval_seconds": 3600,
        },
    }
    services = ("ingest", "traffic-store", "failure-analyzer", "security", "mirror")
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(backing(*services, settings=settings))
        app = create_app(
            msgspec.structs.replace(
                gateway_settings,
                service_token=TOKEN,
                session_secret="fuzz-session-secret",
                settings_secret=secret,
                request_timeout_seconds=5.0,
                default_page=50,
                kubeconfig=kmock_kubeconfig,
            )
        )
        schemas = ResponseSchemas.of_litestar(app)
        base_url = await stack.enter_async_context(serve_asgi(schemas.asgi(app)))
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=base_url))
        signup = await client.post("/api/auth/signup", json=ADMIN)
        assert signup.status_code == 201, signup.text
        spec = await client.get(SPEC_PATH)
        assert spec.status_code == 200, spec.text
        yield Stack(base_url, app, spec.json(), signup.cookies[SESSION_COOKIE])
    schemas.assert_clean()


def service_operations(app: Litestar) -> frozenset[tuple[str, str]]:
    """``(METHOD, OpenAPI path)`` of every documented route that accepts the service token."""
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.include_in_schema:
                continue  # not in the spec, so not fuzzed (covered by its own tests)
            if handler.opt.get("service") or handler.opt.get("service_only"):
                found.update((method, route.path_format) for method in handler.http_methods)
    return frozenset(found)


def load_schema(spec: dict[str, Any]) -> OpenApiSchema:
    """The gateway's spec as a schemathesis schema (no config file is discovered)."""
    return schemathesis.openapi.from_dict(spec, config=schemathesis.Config())


def quiet_session() -> requests.Session:
    """A session that never keeps cookies, so a response cannot swap or drop the admin's."""
    session = requests.Session()
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return session


def fuzz(
    schema: OpenApiSchema,
    base_url: str,
    selected: Callable[[str, str], bool],
    headers: dict[str, str],
    cookies: dict[str, str],
) -> Findings:
    """Send generated requests for each selected operation; collect what went wrong.

    Blocking (``requests``): run it in a worker thread while the loop serves the gateway.
    """
    findings = Findings()
    with quiet_session() as session:

        def call(case: Case[Any]) -> schemathesis.Response:
            return case.call(
                base_url=base_url,
                session=session,
                headers=headers,
                cookies=cookies,
                timeout=REQUEST_TIMEOUT,
            )

        for result in schema.get_all_operations():
            if not isinstance(result, Ok):
                raise result.err()  # the spec has an operation schemathesis cannot read
            operation = result.ok()
            method, path = operation.method.upper(), operation.path
            if not selected(method, path):
                continue
            documented = frozenset(operation.definition.raw.get("responses", {}))
            for mode in GenerationMode:
                _fuzz_operation(
                    operation.as_strategy(generation_mode=mode),
                    f"{method} {path}",
                    mode,
                    call,
                    documented,
                    findings,
                )
    return findings


def _fuzz_operation(
    strategy: SearchStrategy[Case[Any]],
    operation: str,
    mode: GenerationMode,
    call: Callable[[Case[Any]], schemathesis.Response],
    documented: frozenset[str],
    findings: Findings,
) -> None:
    """Run one operation's examples in one mode, recording 5xx and undocumented 2xx."""

    @FUZZ_SETTINGS
    @given(case=strategy)
    @_seeded
    def run(case: Case[Any]) -> None:
        response = call(case)
        status = response.status_code
        findings.seen(operation, status)
        problem = None
        if status >= 500:
            problem = f"{status}: {response.content[:200]!r}"
        elif 200 <= status < 300 and str(status) not in documented:
            problem = f"{status} is not a documented status ({', '.join(sorted(documented))})"
        if problem is not None:
            label = f"{operation} [{mode.value}] -> {problem}"
            findings.failures.append(f"{label}\n    {case.as_curl_command()}")

    try:
        run()
    except Unsatisfiable:
        if mode.is_positive:
            raise AssertionError(f"{operation}: no example could be generated") from None
        # Negative mode of an operation without parameters or body: nothing to violate.


def _template(path: str) -> str:
    """``/x/{name:str}`` and ``/x/{name}`` alike as ``/x/{name}``."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


def _only(operation: tuple[str, str]) -> Callable[[str, str], bool]:
    """Select just ``operation`` (``(METHOD, path)``)."""
    return lambda method, path: (method, path) == operation


def _documented(spec: dict[str, Any]) -> set[str]:
    """Every operation of the spec as ``"METHOD /path"``."""
    methods = ("get", "put", "post", "delete", "patch")
    return {
        f"{m.upper()} {path}" for path, item in spec["paths"].items() for m in item if m in methods
    }


@pytest.mark.timeout(900)  # ~100 s on an idle 2-core machine; 250 s seen under heavy load
async def test_no_generated_request_gets_a_5xx(stack: Stack) -> None:
    """Fuzz every operation as the admin, with the service token, then the session enders."""
    schema = load_schema(stack.spec)
    cookies = {SESSION_COOKIE: stack.cookie}
    service = {(m, _template(p)) for m, p in service_operations(stack.app) if m != "OPTIONS"}
    assert ("POST", "/pod/traffic/batch") in service  # the routes were found

    def as_admin(method: str, path: str) -> bool:
        return (method, path) not in SESSION_ENDERS

    def as_service(method: str, path: str) -> bool:
        return (method, path) in service

    admin = await asyncio.to_thread(fuzz, schema, stack.base_url, as_admin, {}, cookies)
    token = {"X-Service-Token": TOKEN}
    svc = await asyncio.to_thread(fuzz, schema, stack.base_url, as_service, token, {})
    last = [
        await asyncio.to_thread(fuzz, schema, stack.base_url, _only(op), {}, cookies)
        for op in SESSION_ENDERS
    ]

    failures = admin.failures + svc.failures + [f for run in last for f in run.failures]
    assert not failures, Findings(failures=failures).report()
    # Coverage: every documented operation was called, and the credentials held throughout
    # (a 401 would mean the passes only exercised the guard).
    fuzzed = set(admin.statuses) | {op for run in last for op in run.statuses}
    assert fuzzed == _documented(stack.spec)
    assert set(svc.statuses) == {f"{m} {p}" for m, p in service}
    for findings in (admin, svc):
        unauthenticated = {
            op for op, seen in findings.statuses.items() if 401 in seen
        } - LOGIN_OPERATIONS
        assert not unauthenticated, f"401 from {sorted(unauthenticated)}"


async def test_inputs_that_used_to_get_a_5xx_are_answered_properly(stack: Stack) -> None:
    """Regressions for the 5xx answers probing beyond the spec found (see the fixes)."""
    cookies = {SESSION_COOKIE: stack.cookie}
    auth = {"X-Service-Token": TOKEN}
    async with httpx.AsyncClient(base_url=stack.base_url, cookies=cookies) as client:
        # A time whose UTC conversion overflows was an OverflowError, not a 400.
        for path, name in (("/pod/traffic", "since"), ("/http-traffic/abc", "until")):
            resp = await client.get(path, params={name: "0001-01-01T00:00:00+01:00"}, headers=auth)
            assert resp.status_code == 400, (path, resp.text)
            assert resp.json()["detail"].startswith(f"{name}: "), resp.text
        # A URL urlsplit cannot parse escaped the settings validation as a 500.
        bad_url = "http://[::1"
        llm = await client.post(
            "/api/admin/llm/config",
            json={"provider": "openai", "model": "m", "api_key": "k", "base_url": bad_url},
        )
        assert llm.status_code == 400, llm.text
        assert llm.json() == {
            "detail": "Invalid llm.config: base_url must be an absolute http(s) URL"
        }
        hook = {"provider": "slack", "config": {"webhook_url": bad_url}}
        for resp in (
            await client.post("/api/admin/notifications", json=hook),
            await client.put("/api/admin/notifications/slack", json={"config": hook["config"]}),
        ):
            assert resp.status_code == 400, resp.text
            assert resp.json() == {
                "detail": "Invalid notifications.slack: config.webhook_url must be an "
                "absolute http(s) URL"
            }
        # A cursor of digits outside ASCII ("¹" is a digit to str.isdigit, not to int) was
        # a 500 (FUZZ_SEED=2 found it).
        for path in ("/api/pods/failed", "/api/pods/history", "/api/security/findings"):
            resp = await client.get(path, params={"cursor": "\u00b9"})
            assert resp.status_code == 400, (path, resp.text)
            assert "cursor" in resp.json()["detail"], resp.text
        # An empty batch reached traffic-store as an empty write that failed and was
        # redelivered: the caller waited for a 504. It inserts nothing, as in kguardian.
        for body in (b"[]", b" [ \n\t] \r\n"):
            empty = await client.post("/pod/traffic/batch", content=body, headers=auth)
            assert empty.status_code == 200, empty.text
            assert empty.json() == 0
        record = {
            "uuid": "00000000-0000-4000-8000-000000000001",
            "pod_name": "web",
            "pod_namespace": "default",
            "pod_ip": "10.0.0.1",
            "pod_port": "80",
            "ip_protocol": "TCP",
            "traffic_type": "INGRESS",
            "traffic_in_out_ip": "10.0.0.2",
            "traffic_in_out_port": "443",
            "decision": "ALLOW",
            "time_stamp": "2026-05-12T10:32:01.123456",
        }
        one = await client.post("/pod/traffic/batch", json=[record], headers=auth)
        assert one.status_code == 200 and one.json() == 1, one.text
