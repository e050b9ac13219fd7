"""Users, sessions, roles and the login rate limit, against real Redis, MongoDB and NATS."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx

# The values the gateway fixtures in conftest.py use.
TOKEN = "svc-token"
ADMIN = {"username": "root", "password": "correct horse battery"}
Gateway = Callable[[], AbstractAsyncContextManager[httpx.AsyncClient]]


async def login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    """POST /api/auth/login."""
    return await client.post("/api/auth/login", json={"username": username, "password": password})


async def test_signup_only_while_no_user_exists(gateway: Gateway) -> None:
    async with gateway() as client:
        status = (await client.get("/api/auth/status")).json()
        assert status == {"setup_required": True, "authenticated": False, "user": None}
        first = await client.post("/api/auth/signup", json=ADMIN)
        assert first.status_code == 201
        assert first.json()["role"] == "admin"
        assert "password_hash" not in first.text and ADMIN["password"] not in first.text
        status = (await client.get("/api/auth/status")).json()
        assert status["setup_required"] is False and status["user"]["username"] == "root"
        again = await client.post("/api/auth/signup", json={"username": "x", "password": "y" * 9})
        assert again.status_code == 403
        assert again.json() == {"detail": "Signup is closed: users already exist"}


async def test_login_sets_a_hardened_cookie_and_wrong_password_is_401(
    admin: httpx.AsyncClient,
) -> None:
    async with httpx.AsyncClient(base_url=str(admin.base_url)) as fresh:
        bad = await login(fresh, "root", "wrong password")
        assert bad.status_code == 401 and bad.json() == {"detail": "Invalid username or password"}
        unknown = await login(fresh, "nobody", "whatever!")
        assert unknown.status_code == 401
        ok = await login(fresh, ADMIN["username"], ADMIN["password"])
        assert ok.status_code == 200
        cookie = ok.headers["set-cookie"].lower()
        assert (
            cookie.startswith("kure_session=") and "httponly" in cookie and "samesite=lax" in cookie
        )
        assert (await fresh.get("/api/auth/me")).json()["username"] == "root"


async def test_forged_or_missing_cookie_is_401(admin: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(base_url=str(admin.base_url)) as anon:
        assert (await anon.get("/api/admin/users")).json() == {"detail": "Not authenticated"}
        anon.cookies.set("kure_session", "abc.def")
        assert (await anon.get("/api/admin/users")).status_code == 401


async def test_login_rate_limit_holds_across_two_gateways(gateway: Gateway) -> None:
    async with gateway() as a, gateway() as b:
        statuses = [(await login(a, "root", "nope-nope")).status_code for _ in range(3)]
        statuses += [(await login(b, "root", "nope-nope")).status_code for _ in range(2)]
        assert statuses == [401] * 5
        sixth = await login(a, "root", "nope-nope")
        assert sixth.status_code == 429
        assert int(sixth.headers["retry-after"]) >= 1
        assert sixth.json()["detail"] == "Too many login attempts; try again later"
        assert (await login(b, "root", "nope-nope")).status_code == 429


async def test_sessions_are_shared_by_replicas_and_logout_ends_them(gateway: Gateway) -> None:
    async with gateway() as a, gateway() as b:
        assert (await a.post("/api/auth/signup", json=ADMIN)).status_code == 201
        b.cookies.set("kure_session", a.cookies["kure_session"])
        assert (await b.get("/api/admin/users")).status_code == 200
        assert (await a.post("/api/auth/logout")).status_code == 200
        assert (await b.get("/api/admin/users")).status_code == 401


async def test_password_change_ends_every_session(admin: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(base_url=str(admin.base_url)) as other:
        assert (await login(other, ADMIN["username"], ADMIN["password"])).status_code == 200
        wrong = await admin.post(
            "/api/auth/password", json={"current_password": "nope", "new_password": "x" * 12}
        )
        assert wrong.status_code == 403
        short = await admin.post(
            "/api/auth/password",
            json={"current_password": ADMIN["password"], "new_password": "short"},
        )
        assert short.status_code == 400 and "password" in short.json()["detail"]
        changed = await admin.post(
            "/api/auth/password",
            json={"current_password": ADMIN["password"], "new_password": "a new long secret"},
        )
        assert changed.status_code == 200
        assert (await other.get("/api/auth/me")).status_code == 401
        assert (await admin.get("/api/auth/me")).status_code == 401
        assert (await login(other, "root", "a new long secret")).status_code == 200


async def test_admin_manages_users_and_the_last_admin_is_protected(
    admin: httpx.AsyncClient,
) -> None:
    made = await admin.post(
        "/api/admin/users", json={"username": "ann", "password": "ann-password", "role": "write"}
    )
    assert made.status_code == 201 and made.json()["role"] == "write"
    dup = await admin.post("/api/admin/users", json={"username": "ann", "password": "x" * 10})
    assert dup.status_code == 409
    bad_role = await admin.post(
        "/api/admin/users", json={"username": "bob", "password": "x" * 10, "role": "boss"}
    )
    assert bad_role.status_code == 400 and "role" in bad_role.json()["detail"]
    listed = await admin.get("/api/admin/users")
    assert [u["username"] for u in listed.json()] == ["ann", "root"]
    assert "password" not in listed.text
    assert (await admin.put("/api/admin/users/root/role", json={"role": "read"})).status_code == 409
    assert (await admin.delete("/api/admin/users/root")).status_code == 409
    assert (await admin.delete("/api/admin/users/ghost")).status_code == 404
    async with httpx.AsyncClient(base_url=str(admin.base_url)) as ann:
        assert (await login(ann, "ann", "ann-password")).status_code == 200
        demoted = await admin.put("/api/admin/users/ann/role", json={"role": "read"})
        assert demoted.json()["role"] == "read"
        assert (await ann.get("/api/auth/me")).status_code == 401  # role change ends sessions
        assert (await admin.delete("/api/admin/users/ann")).status_code == 200
        assert (await login(ann, "ann", "ann-password")).status_code == 401


async def test_role_matrix(admin: httpx.AsyncClient) -> None:
    for name, role in (("reader", "read"), ("writer", "write")):
        resp = await admin.post(
            "/api/admin/users",
            json={"username": name, "password": "password-" + name, "role": role},
        )
        assert resp.status_code == 201
    base = str(admin.base_url)
    async with (
        httpx.AsyncClient(base_url=base) as anon,
        httpx.AsyncClient(base_url=base) as reader,
        httpx.AsyncClient(base_url=base) as writer,
        httpx.AsyncClient(base_url=base, headers={"X-Service-Token": TOKEN}) as service,
        httpx.AsyncClient(base_url=base, headers={"X-Service-Token": "wrong"}) as forged,
    ):
        await login(reader, "reader", "password-reader")
        await login(writer, "writer", "password-writer")
        callers = {
            "anon": anon,
            "read": reader,
            "write": writer,
            "admin": admin,
            "service": service,
            "forged": forged,
        }
        # (method, path, body) -> the callers allowed; everyone else gets 401 or 403.
        matrix: list[tuple[str, str, object, set[str]]] = [
            ("GET", "/pod/traffic", None, {"read", "write", "admin", "service"}),
            ("POST", "/pod/traffic/batch", [], {"write", "admin", "service"}),
            ("GET", "/http-traffic/src-1", None, {"read", "write", "admin", "service"}),
            ("GET", "/api/admin/users", None, {"admin"}),
            ("POST", "/api/admin/users", {"username": "z", "password": "z" * 9}, {"admin"}),
            ("GET", "/api/auth/me", None, {"read", "write", "admin"}),
            ("GET", "/health", None, set(callers)),
            ("GET", "/api/auth/status", None, set(callers)),
        ]
        for method, path, body, allowed in matrix:
            for who, client in callers.items():
                resp = await client.request(method, path, json=body)
                if who in allowed:
                    assert resp.status_code not in (401, 403), (method, path, who, resp.text)
                elif who in ("anon", "forged"):
                    assert resp.status_code == 401, (method, path, who)
                    assert resp.json() == {"detail": "Not authenticated"}
                else:
                    assert resp.status_code == 403, (method, path, who, resp.text)
                    assert resp.json()["detail"]
