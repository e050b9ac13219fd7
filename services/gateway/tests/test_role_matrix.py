"""Every HTTP route of the app x every kind of caller: the guard's decision, end to end.

The expected decision is derived from each route's ``opt`` and method (the rules in
``kubeward.gateway.auth``), so a route added later is covered without editing this test.
Ingest and traffic-store are not running here: an allowed call may answer 503/504; only
the guard is judged.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from litestar.routes import HTTPRoute

from kubeward.gateway.app import create_app
from kubeward.gateway.settings import Settings
from kubeward.gateway.users import RANK

TOKEN = "svc-token"  # as in conftest.py
SAFE = {"GET", "HEAD", "OPTIONS"}
# Routes whose own logic answers 401/403 whoever calls, or that end the caller's session.
SKIP = {("POST", "/api/auth/signup"), ("POST", "/api/auth/logout"), ("POST", "/api/auth/password")}


def expected(opt: dict[str, Any], method: str, who: str) -> str:
    """``allow``, ``401`` or ``403`` for caller ``who`` on a route with ``opt``."""
    if opt.get("public"):
        return "allow"
    if who in ("anon", "forged"):
        return "401"
    if who == "service":
        return "allow" if opt.get("service") or opt.get("service_only") else "403"
    if opt.get("service_only"):
        return "403"
    needed = opt.get("role") or ("read" if method in SAFE else "write")
    return "allow" if RANK[who] >= RANK[needed] else "403"


def routes() -> list[tuple[str, str, dict[str, Any]]]:
    """(method, concrete path, opt) for every HTTP handler of the app."""
    app = create_app(Settings())
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path = re.sub(r"\{[^}:]+(:[^}]+)?\}", "x", route.path)
        if path.startswith("/docs") or path in ("/redoc", "/openapi.json"):
            continue
        for handler in route.route_handlers:
            for method in sorted(handler.http_methods):
                if method not in ("HEAD", "OPTIONS") and (method, path) not in SKIP:
                    found.append((method, path, dict(handler.opt)))
    return found


async def test_every_route_for_every_caller(admin: httpx.AsyncClient) -> None:
    base = str(admin.base_url)
    for name, role in (("reader", "read"), ("writer", "write")):
        made = await admin.post(
            "/api/admin/users", json={"username": name, "password": f"pw-{name}-123", "role": role}
        )
        assert made.status_code == 201
    async with (
        httpx.AsyncClient(base_url=base) as anon,
        httpx.AsyncClient(base_url=base) as reader,
        httpx.AsyncClient(base_url=base) as writer,
        httpx.AsyncClient(base_url=base, headers={"X-Service-Token": TOKEN}) as service,
        httpx.AsyncClient(base_url=base, headers={"Authorization": "Bearer nope"}) as forged,
    ):
        for client, name in ((reader, "reader"), (writer, "writer")):
            login = await client.post(
                "/api/auth/login", json={"username": name, "password": f"pw-{name}-123"}
            )
            assert login.status_code == 200
        callers = {
            "anon": anon,
            "forged": forged,
            "read": reader,
            "write": writer,
            "admin": admin,
            "service": service,
        }
        table = routes()
        assert len(table) > 30  # the whole API, not a handful
        for method, path, opt in table:
            for who, client in callers.items():
                resp = await client.request(method, path, json={})
                want = expected(opt, method, who)
                got = str(resp.status_code)
                if want == "allow":
                    assert got not in ("401", "403"), (method, path, who, resp.text)
                else:
                    assert got == want, (method, path, who, resp.text)
                    assert resp.json()["detail"], (method, path, who)
