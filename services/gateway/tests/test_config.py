"""``GET /api/config`` (service health over the bus) and the served AsyncAPI document."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx

BackedGateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


async def test_config_reports_each_service_and_docs_are_public(
    backed_gateway: BackedGateway,
) -> None:
    async with backed_gateway("ingest", service_token="t") as client:
        url = client.base_url
        assert (await client.get("/api/config")).status_code == 401
        signup = await client.post(
            "/api/auth/signup", json={"username": "admin", "password": "long enough"}
        )
        assert signup.status_code == 201
        config = (await client.get("/api/config")).json()
        assert config["version"] == "0.1.0"
        assert config["services"]["ingest"]["status"] == "ok"
        assert config["services"]["ingest"]["checks"]["nats"] is True
        assert config["services"]["traffic-store"] == {"status": "unavailable", "checks": {}}
        assert config["status"] == "degraded"
        async with httpx.AsyncClient(base_url=url) as anon:
            doc = await anon.get("/docs/asyncapi.json")
        assert doc.status_code == 200
        assert doc.json()["asyncapi"] == "3.0.0"
        assert "kubeward-collect-pod-traffic" in doc.json()["channels"]
