"""``GET /api/config`` (service health over the bus) and the served AsyncAPI document."""

from __future__ import annotations

from contextlib import AsyncExitStack

import httpx

from kubeward.core.service import serving
from kubeward.devstack.testing import serve_asgi
from kubeward.gateway.app import create_app
from kubeward.gateway.settings import Settings
from kubeward.ingest.app import ingest
from kubeward.ingest.settings import Settings as IngestSettings


async def test_config_reports_each_service_and_docs_are_public(
    nats_url: str, mongo_url: str, mongo_db_name: str, clean_redis_url: str
) -> None:
    settings = Settings(
        nats_url=nats_url,
        mongodb_url=mongo_url,
        mongodb_db=mongo_db_name,
        redis_url=clean_redis_url,
        service_token="t",
    )
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(
            serving("ingest", IngestSettings(nats_url=nats_url), ingest)
        )
        url = await stack.enter_async_context(serve_asgi(create_app(settings)))
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))
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
