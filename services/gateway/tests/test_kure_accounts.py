"""Contract tests: first-run setup, users by id and invitations as Kure's dashboard calls them.

Pinned upstream (``Nan0C0de/kure-monitor``):
- ``frontend/src/services/api.js`` at 531f0287ec468ee214d06354f8d7b134a3bc48c1: the exact
  bodies (``setupAdmin`` sends ``{username, password}`` plus ``email`` when given;
  ``updateUserRole`` PATCHes ``{role}``; ``createInvitation`` sends ``{role}`` plus
  ``expires_in_hours`` when set; ``acceptInvitation`` sends ``{token, username, password}``).
- ``backend/api/routes_auth.py`` at 531f0287ec468ee214d06354f8d7b134a3bc48c1 and
  ``backend/api/routes_users.py`` at 18cee0dd268ff5962c4379984d832b4098cf91c2: answers,
  statuses and messages (``admin``/``member`` roles).
- ``frontend/src/contexts/AuthContext.js`` at 18cee0dd268ff5962c4379984d832b4098cf91c2:
  after setup or accepting, the dashboard reads ``GET /api/auth/me`` (``me.user ?? me``)
  and compares ``user.id`` with the rows of ``GET /api/admin/users``.
Through a real gateway on real NATS, MongoDB and Redis.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from kubeward.core.mongo import Document
from kubeward.devstack.testing import eventually

ADMIN = {"username": "root", "password": "correct horse battery"}
Gateway = Callable[[], AbstractAsyncContextManager[httpx.AsyncClient]]


def new_client(like: httpx.AsyncClient) -> httpx.AsyncClient:
    """A fresh browser (no cookies) on the same gateway."""
    return httpx.AsyncClient(base_url=str(like.base_url))


async def me(client: httpx.AsyncClient) -> dict[str, Any]:
    """``GET /api/auth/me`` as the dashboard reads it."""
    resp = await client.get("/api/auth/me")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body.get("user", body)


async def test_first_run_setup_as_the_setup_page_does_it(gateway: Gateway) -> None:
    async with gateway() as browser:
        first = await browser.get("/api/auth/setup-required")
        assert (first.status_code, first.json()) == (200, {"setup_required": True})
        body = {"username": "root", "password": ADMIN["password"], "email": "root@example.com"}
        setup = await browser.post("/api/auth/setup", json=body)
        assert setup.status_code == 200, setup.text
        user = setup.json()["user"]
        assert set(user) == {"id", "username", "email", "role"}
        assert user["username"] == "root" and user["role"] == "admin"
        assert user["email"] == "root@example.com" and isinstance(user["id"], int)
        assert "kure_session=" in setup.headers["set-cookie"]
        assert (await me(browser))["id"] == user["id"]  # logged in, as Kure's backend does
        done = await browser.get("/api/auth/setup-required")
        assert done.json() == {"setup_required": False}
        async with new_client(browser) as other:
            again = await other.post("/api/auth/setup", json={"username": "x" * 3, **_pw()})
            assert (again.status_code, again.json()) == (
                409,
                {"detail": "Setup already completed"},
            )
            assert "set-cookie" not in again.headers
            # The reference's routes keep their shapes.
            status = (await other.get("/api/auth/status")).json()
            assert status == {"setup_required": False, "authenticated": False, "user": None}
            assert (await other.post("/api/auth/signup", json=ADMIN)).status_code == 403


async def test_setup_without_email_and_a_refused_name(gateway: Gateway) -> None:
    async with gateway() as browser:
        bad = await browser.post("/api/auth/setup", json={"username": "12345", **_pw()})
        assert bad.status_code == 400 and "username" in bad.json()["detail"]
        ok = await browser.post("/api/auth/setup", json={"username": "root", **_pw()})
        assert ok.status_code == 200  # the failed attempt did not close setup
        assert ok.json()["user"]["email"] is None


def _pw() -> dict[str, str]:
    return {"password": ADMIN["password"]}


async def _user(admin: httpx.AsyncClient, name: str, role: str) -> dict[str, Any]:
    body = {"username": name, "password": "password-" + name, "role": role}
    resp = await admin.post("/api/admin/users", json=body)
    assert resp.status_code == 201, resp.text
    created: dict[str, Any] = resp.json()
    return created


async def test_users_by_id_as_the_users_tab_does_it(admin: httpx.AsyncClient) -> None:
    ann = await _user(admin, "ann", "write")
    bob = await _user(admin, "bob", "read")
    rows = (await admin.get("/api/admin/users")).json()
    ids = {row["username"]: row["id"] for row in rows}
    assert ids["ann"] == ann["id"] and len(set(ids.values())) == 3
    assert set(rows[0]) == {"id", "username", "email", "role", "created_at", "updated_at"}
    root = await me(admin)
    assert root["id"] == ids["root"]

    promoted = await admin.patch(f"/api/admin/users/{ann['id']}", json={"role": "member"})
    assert promoted.status_code == 200, promoted.text
    assert promoted.json() | {"updated_at": None} == ann | {"role": "member", "updated_at": None}
    async with new_client(admin) as as_ann:
        login = await as_ann.post("/api/auth/login", json={"username": "ann", **_ann_pw()})
        assert login.status_code == 200
        assert (await me(as_ann))["role"] == "member"
        assert (await as_ann.get("/api/admin/users")).status_code == 403  # member < admin
        listed = await as_ann.get("/api/pods/failed")
        assert listed.status_code not in (401, 403)

    answers = [
        (f"/api/admin/users/{bob['id']}", {"role": "boss"}, 400, "Invalid role"),
        (f"/api/admin/users/{root['id']}", {"role": "member"}, 400, "Cannot change your own role"),
        ("/api/admin/users/999999", {"role": "member"}, 404, "User not found"),
    ]
    for path, body, status, detail in answers:
        resp = await admin.patch(path, json=body)
        assert (resp.status_code, resp.json()) == (status, {"detail": detail}), path

    mine = await admin.delete(f"/api/admin/users/{root['id']}")
    assert (mine.status_code, mine.json()) == (400, {"detail": "Cannot delete yourself"})
    gone = await admin.delete(f"/api/admin/users/{bob['id']}")
    assert (gone.status_code, gone.json()) == (200, {"message": "User deleted"})
    again = await admin.delete(f"/api/admin/users/{bob['id']}")
    assert (again.status_code, again.json()) == (404, {"detail": "User not found"})
    # The reference's name routes still answer as documented.
    by_name = await admin.put("/api/admin/users/ann/role", json={"role": "read"})
    assert by_name.status_code == 200 and by_name.json()["id"] == ann["id"]
    named = await admin.delete("/api/admin/users/ann")
    assert named.json() == {"detail": "User ann deleted"}
    assert [r["username"] for r in (await admin.get("/api/admin/users")).json()] == ["root"]
    last = await admin.delete("/api/admin/users/root")
    assert last.status_code == 409


def _ann_pw() -> dict[str, str]:
    return {"password": "password-ann"}


async def test_invitations_single_use_hashed_at_rest(
    admin: httpx.AsyncClient, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    made = await admin.post(
        "/api/admin/invitations", json={"role": "member", "expires_in_hours": 24}
    )
    assert made.status_code == 200, made.text
    invite = made.json()
    assert set(invite) == {"id", "token", "role", "expires_at", "created_at", "invite_url_path"}
    token = invite["token"]
    assert invite["invite_url_path"] == f"/invite/{token}" and invite["role"] == "member"
    expires = datetime.fromisoformat(invite["expires_at"])
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)
    default = (await admin.post("/api/admin/invitations", json={"role": "member"})).json()
    never = await admin.post(
        "/api/admin/invitations", json={"role": "read", "expires_in_hours": None}
    )
    assert never.json()["expires_at"] is None
    root_id = (await me(admin))["id"]

    listed = (await admin.get("/api/admin/invitations")).json()
    assert [i["id"] for i in listed] == [never.json()["id"], default["id"], invite["id"]]
    assert listed[2]["created_by"] == root_id and "token" not in listed[2]
    stored = [d async for d in mongo[mongo_db_name]["invitations"].find({})]
    assert all(token not in str(doc) for doc in stored)  # only the hash is kept
    assert hashlib.sha256(token.encode()).hexdigest() in {d["_id"] for d in stored}

    async with new_client(admin) as invitee, new_client(admin) as rival:
        meta = await invitee.get(f"/api/auth/invitation/{token}")
        assert meta.json() == {"role": "member", "expires_at": invite["expires_at"]}
        unknown = await invitee.get("/api/auth/invitation/not-a-token")
        assert (unknown.status_code, unknown.json()) == (404, {"detail": "Invitation not found"})
        taken = {"token": token, "username": "root", "password": "password-x"}
        clash = await invitee.post("/api/auth/accept-invitation", json=taken)
        assert (clash.status_code, clash.json()) == (409, {"detail": "Username already taken"})

        bodies = [
            {"token": token, "username": "carol", "password": "password-carol"},
            {"token": token, "username": "dave", "password": "password-dave"},
        ]
        answers = await asyncio.gather(
            invitee.post("/api/auth/accept-invitation", json=bodies[0]),
            rival.post("/api/auth/accept-invitation", json=bodies[1]),
        )
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [200, 410], [r.text for r in answers]
        winner = next(r for r in answers if r.status_code == 200)
        loser = next(r for r in answers if r.status_code == 410)
        assert loser.json() == {"detail": "Invitation already used"}
        user = winner.json()["user"]
        assert user["role"] == "member" and set(user) == {"id", "username", "email", "role"}
        logged_in = invitee if winner is answers[0] else rival
        assert (await me(logged_in))["username"] == user["username"]
        names = [r["username"] for r in (await admin.get("/api/admin/users")).json()]
        assert sorted(names) == sorted(["root", user["username"]])  # no half-made loser
        used = await invitee.get(f"/api/auth/invitation/{token}")
        assert (used.status_code, used.json()) == (410, {"detail": "Invitation already used"})

    remaining = [i["id"] for i in (await admin.get("/api/admin/invitations")).json()]
    assert remaining == [never.json()["id"], default["id"]]
    await mongo[mongo_db_name]["invitations"].update_one(
        {"id": default["id"]}, {"$set": {"expires_at": "2020-01-01T00:00:00+00:00"}}
    )
    async with new_client(admin) as late:
        expired = await late.get(f"/api/auth/invitation/{default['token']}")
        assert (expired.status_code, expired.json()) == (410, {"detail": "Invitation expired"})
        body = {"token": default["token"], "username": "erin", "password": "password-erin"}
        refused = await late.post("/api/auth/accept-invitation", json=body)
        assert refused.status_code == 410

    revoked = await admin.delete(f"/api/admin/invitations/{never.json()['id']}")
    assert (revoked.status_code, revoked.json()) == (200, {"message": "Invitation revoked"})
    twice = await admin.delete(f"/api/admin/invitations/{never.json()['id']}")
    assert (twice.status_code, twice.json()) == (404, {"detail": "Invitation not found"})
    async with new_client(admin) as anyone:
        gone = await anyone.get(f"/api/auth/invitation/{never.json()['token']}")
        assert gone.status_code == 404
        assert (await anyone.get("/api/admin/invitations")).status_code == 401
    bad_role = await admin.post("/api/admin/invitations", json={"role": "owner"})
    assert bad_role.status_code == 400 and "role" in bad_role.json()["detail"]


async def test_users_stored_before_ids_get_one_at_start(
    gateway: Gateway, mongo: AsyncMongoClient[Document], mongo_db_name: str
) -> None:
    async with gateway() as browser:
        assert (await browser.post("/api/auth/setup", json=ADMIN)).status_code == 200
    users = mongo[mongo_db_name]["users"]
    old = {"_id": "legacy", "password_hash": "x", "role": "read"}
    await users.insert_one(old | {"created_at": "2026-01-01T00:00:00Z", "updated_at": "x"})
    async with gateway() as admin:  # a restart gives the old row an id
        login = await admin.post("/api/auth/login", json=ADMIN)
        assert login.status_code == 200

        async def ids() -> dict[str, object]:
            return {
                r["username"]: r.get("id") for r in (await admin.get("/api/admin/users")).json()
            }

        rows = await eventually(ids, lambda r: r.get("legacy") is not None, what="legacy id")
        assert isinstance(rows["legacy"], int) and rows["legacy"] != rows["root"]
        gone = await admin.delete(f"/api/admin/users/{rows['legacy']}")
        assert gone.json() == {"message": "User deleted"}
