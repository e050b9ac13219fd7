"""Suppressed checks (Kure's excluded rules) and finding manifests in the security service.

Pins Nan0C0de/kure-monitor ``backend/database/mixins/exclusions.py`` @ ca2761d3 (a rule
matches a finding title or its base before ``": "``, globally or in one namespace) and
``backend/services/mirror_service.py`` ``clean_manifest`` @ 531f0287 (what the manifest
viewer leaves out). Built-in findings are matched by their check id too (our addition).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
import yaml
from nats.aio.client import Client as NATS

from kubeward.core.app_settings import AppSettings
from kubeward.core.service import serving
from kubeward.devstack.testing import eventually
from kubeward.ingest.app import ingest
from kubeward.ingest.settings import Settings as IngestSettings
from kubeward.schemas import bus
from kubeward.schemas.replies import Reply
from kubeward.schemas.security import (
    FindingManifest,
    FindingQuery,
    PurgeRule,
    RequestRescan,
    SecurityFinding,
)
from kubeward.schemas.settings import KEYS, RuleExclusion, add_rule, remove_rule
from kubeward.security.admin_settings import is_rule_excluded
from kubeward.security.app import security
from kubeward.security.manifest_view import clean, render_text
from kubeward.security.settings import Settings

SECRET = "security-test-settings-secret"

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "api", "namespace": "shop", "uid": "u-1", "generation": 3},
    "spec": {
        "replicas": 2,
        "template": {
            "spec": {
                "nodeName": "n1",
                "containers": [
                    {
                        "name": "app",
                        "image": "registry.k8s.io/pause:3.9",
                        "securityContext": {"privileged": True},
                        "terminationMessagePath": "/dev/termination-log",
                    }
                ],
            }
        },
    },
    "status": {"replicas": 2},
}


def test_a_rule_matches_title_base_or_check_in_its_scope() -> None:
    shop = RuleExclusion(rule_title="Privileged container", namespace="shop")
    everywhere = RuleExclusion(rule_title="host-network")
    rules = [shop, everywhere]
    assert is_rule_excluded("Privileged container: app", "x", "shop", rules)
    assert not is_rule_excluded("Privileged container: app", "x", "web", rules)
    assert not is_rule_excluded("Privileged containers", "x", "shop", rules)
    assert is_rule_excluded("Pod uses the host network", "host-network", "web", rules)


def test_the_manifest_view_drops_what_the_cluster_assigned() -> None:
    cleaned = clean(DEPLOYMENT)
    assert "status" not in cleaned
    assert cleaned["metadata"] == {"name": "api", "namespace": "shop"}
    pod = cleaned["spec"]["template"]["spec"]
    assert "nodeName" not in pod and "terminationMessagePath" not in pod["containers"][0]
    assert DEPLOYMENT["metadata"]["uid"] == "u-1"  # the input is left alone
    # The scanner's text: cleaned when it is one mapping, otherwise shown as it came.
    text = "metadata:\n  name: x\n  uid: u-2\nstatus:\n  phase: Running\n"
    assert yaml.safe_load(render_text(text)) == {"metadata": {"name": "x"}}
    for as_is in ("- a\n- b\n", "a: [unclosed\n", "kind: A\n---\nkind: B\n"):
        assert render_text(as_is) == as_is


class Service:
    """Ingest + security in-process and the admin settings they watch."""

    def __init__(self, nc: NATS, settings: AppSettings) -> None:
        self.nc = nc
        self.settings = settings

    async def findings(self) -> list[SecurityFinding]:
        msg = await self.nc.request(bus.RPC_SECURITY_LIST, msgspec.json.encode(FindingQuery()), 10)
        reply = msgspec.json.decode(msg.data, type=Reply)
        return msgspec.json.decode(reply.body, type=list[SecurityFinding])

    async def command(self, command: Any) -> Reply:
        msg = await self.nc.request(bus.RPC_SECURITY_COMMAND, msgspec.json.encode(command), 30)
        return msgspec.json.decode(msg.data, type=Reply)


@pytest.fixture
async def service(
    nats_url: str, mongo_url: str, mongo_db_name: str, nc: NATS
) -> AsyncIterator[Service]:
    settings = Settings(
        nats_url=nats_url, mongodb_url=mongo_url, mongodb_db=mongo_db_name, settings_secret=SECRET
    )
    async with (
        serving("ingest", IngestSettings(nats_url=nats_url), ingest),
        serving("security", settings, security),
        await AppSettings.open(nc.jetstream(), SECRET, keys=KEYS) as app_settings,
    ):
        yield Service(nc, app_settings)


async def test_a_suppressed_builtin_check_is_purged_and_not_raised_by_rescans(
    service: Service,
) -> None:
    await service.nc.jetstream().publish(bus.COLLECT_MANIFESTS, msgspec.json.encode(DEPLOYMENT))
    rows = await eventually(
        service.findings,
        lambda r: "privileged-container" in {f.check_name for f in r},
        what="the built-in privileged finding",
    )
    privileged = next(f for f in rows if f.check_name == "privileged-container")
    shown = msgspec.json.decode((await service.command(FindingManifest(id=privileged.id))).body)
    manifest = yaml.safe_load(shown["manifest"])
    assert manifest["metadata"] == {"name": "api", "namespace": "shop"}
    assert "status" not in manifest and shown["title"] == privileged.title

    # Suppressed by check id in shop: the service is told to purge what is stored.
    await service.settings.apply(
        add_rule(RuleExclusion(rule_title="privileged-container", namespace="shop"))
    )
    purged = await service.command(PurgeRule(rule_title="privileged-container", namespace="shop"))
    assert msgspec.json.decode(purged.body) == {"deleted": 1}
    assert "privileged-container" not in {f.check_name for f in await service.findings()}
    # A rescan (security_rescan_request's built-in half) does not bring it back.
    statuses = await service.nc.subscribe(bus.feed_subject("security_rescan_status"))
    assert (await service.command(RequestRescan())).ok
    await eventually(
        lambda: _status(statuses), lambda s: s == "completed", what="the rescan to complete"
    )
    assert "privileged-container" not in {f.check_name for f in await service.findings()}
    # Lifting it: the next scan raises it again.
    assert await service.settings.apply(remove_rule("privileged-container", "shop"))
    await service.nc.jetstream().publish(bus.COLLECT_MANIFESTS, msgspec.json.encode(DEPLOYMENT))
    await eventually(
        service.findings,
        lambda r: "privileged-container" in {f.check_name for f in r},
        what="the finding back",
    )


async def _status(sub: Any) -> str:
    msg = await sub.next_msg(timeout=10)
    status: str = msgspec.json.decode(msg.data)["data"]["status"]
    return status
