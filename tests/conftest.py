"""Fixtures of the end-to-end tests (the services running as processes)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from kubeward.devstack.services import ServiceSet

ADMIN = {"username": "admin", "password": "a long enough password"}


@pytest.fixture
async def dashboard(stack: ServiceSet) -> AsyncIterator[httpx.AsyncClient]:
    """A logged-in dashboard client of the running gateway (signed up as the first admin)."""
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        assert (await client.post("/api/auth/signup", json=ADMIN)).status_code == 201
        yield client
