"""The gateway process as ``python -m kubeward.gateway`` runs it: forwarding headers are
believed only from configured proxies (uvicorn trusts 127.0.0.1 by default)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kubeward.devstack.procs import free_port
from kubeward.devstack.services import ServiceSet, pick_ports


def gateway_process(env: dict[str, str], logs: Path) -> Iterator[str]:
    """Start the gateway alone as a process; yield its base URL."""
    services = ServiceSet(env, pick_ports(free_port()), logs)
    try:
        services.start("gateway")
        yield services.gateway_url
    finally:
        services.stop_all()


@pytest.fixture
def gateway_url(stack_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """The gateway with default settings (no trusted proxy)."""
    yield from gateway_process(stack_env, tmp_path)


@pytest.fixture
def gateway_behind_proxy_url(stack_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """The gateway configured to believe a proxy on 127.0.0.1."""
    yield from gateway_process(stack_env | {"FORWARDED_ALLOW_IPS": "127.0.0.1"}, tmp_path)


async def attempts(base_url: str, count: int) -> list[int]:
    """Status codes of ``count`` failed logins, each claiming another client address."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        codes = []
        for i in range(count):
            resp = await client.post(
                "/api/auth/login",
                json={"username": "root", "password": "wrong password"},
                headers={"X-Forwarded-For": f"203.0.113.{i}"},
            )
            codes.append(resp.status_code)
        return codes


async def test_a_new_forwarded_address_per_attempt_does_not_escape_the_limit(
    gateway_url: str,
) -> None:
    codes = await attempts(gateway_url, 8)
    assert codes[:5] == [401] * 5
    assert set(codes[5:]) == {429}


async def test_a_configured_proxy_is_believed(gateway_behind_proxy_url: str) -> None:
    """Behind a trusted proxy each forwarded client has its own window."""
    assert await attempts(gateway_behind_proxy_url, 8) == [401] * 8
