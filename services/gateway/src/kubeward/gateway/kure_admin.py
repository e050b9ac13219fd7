"""The admin routes Kure's dashboard and scanner call beyond the reference: suggestions
(namespaces, monitored pods, rule titles), suppressed security checks, trusted registries
under ``/api/admin`` and the retention settings in minutes.

Answers have the real Kure backend's shapes (``routes_admin.py``, ``routes_pods.py``).
Suppressed checks live in the admin settings (``exclusions.rules``, live in every
service); the security service, which owns findings, drops suppressed ones on arrival and
on every rescan, and deletes the stored ones when a check is suppressed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, HTTPException, NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody

from kubeward.core.app_settings import AppSettings
from kubeward.core.audit import now
from kubeward.core.feed import publish_event
from kubeward.gateway.auth import principal_of
from kubeward.gateway.buslink import BusLink
from kubeward.gateway.errors import json_reply
from kubeward.gateway.responses import ExcludedRule, RegistryChange, TrustedRegistryRow, declare
from kubeward.schemas import bus
from kubeward.schemas.pod_failures import FailureQuery
from kubeward.schemas.replies import Reply
from kubeward.schemas.security import (
    AddRegistry,
    FindingNamespaces,
    ListRegistries,
    PurgeRule,
    RemoveRegistry,
    RuleTitles,
    SecurityCommand,
)
from kubeward.schemas.setting_key import SettingValidationError
from kubeward.schemas.settings import (
    EXCLUDED_RULES,
    HISTORY_RETENTION,
    IGNORED_RETENTION,
    Retention,
    RuleExclusion,
    add_rule,
    check_rule,
    remove_rule,
    same_rule,
)

SECURITY_UNAVAILABLE = "Security service is not available"
FAILURES_UNAVAILABLE = "Failure analyzer is not available"
SUGGESTION_WINDOW = 1000
"""Active failures (newest first) the namespace and pod suggestions are drawn from."""
MAX_RETENTION_MINUTES = 43200


class RuleIn(msgspec.Struct, kw_only=True):
    """``POST /api/admin/excluded-rules`` (Kure's ``ExcludedRule``)."""

    rule_title: str = ""
    namespace: str | None = None


class RegistryIn(msgspec.Struct, kw_only=True):
    """``POST /api/admin/trusted-registries`` (Kure's ``TrustedRegistry``)."""

    registry: str = ""


async def _security(link: BusLink, command: SecurityCommand) -> Reply:
    payload = msgspec.json.encode(command)
    return await link.ask(bus.RPC_SECURITY_COMMAND, payload, SECURITY_UNAVAILABLE)


async def _active_failures(link: BusLink) -> list[dict[str, Any]]:
    """The newest active failure records (``[]`` when failure-analyzer does not answer)."""
    query = FailureQuery(view="active", limit=SUGGESTION_WINDOW)
    reply = await link.ask(bus.RPC_FAILURES_LIST, msgspec.json.encode(query), FAILURES_UNAVAILABLE)
    if not reply.ok:
        return []
    records: list[dict[str, Any]] = msgspec.json.decode(bytes(reply.body))
    return records


def _rule_view(rule: RuleExclusion) -> dict[str, Any]:
    """Kure's row: ``namespace`` is ``null`` for a global exclusion."""
    return {
        "rule_title": rule.rule_title,
        "namespace": rule.namespace or None,
        "created_at": rule.created_at or None,
    }


def _minutes(data: Any) -> int:
    """Kure's validation of ``{"minutes": n}``: missing is 0, else an integer 0-43200."""
    minutes = data.get("minutes", 0) if isinstance(data, dict) else None
    if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 0:
        raise ClientException(detail="minutes must be a non-negative integer")
    if minutes > MAX_RETENTION_MINUTES:
        raise ClientException(detail="minutes must not exceed 43200 (30 days)")
    return minutes


class KureAdminController(Controller):
    """Admin data Kure's dashboard tabs read (admin role; the scanner's reads also take the
    service token)."""

    path = "/api/admin"
    tags = ["admin"]
    opt = {"role": "admin"}

    # --- Suggestions -------------------------------------------------------------------

    @get(
        "/namespaces",
        summary="Namespaces to offer for exclusion",
        description="As Kure: the namespaces of active failures and of security findings, "
        "sorted (stored data, so no cluster is needed).",
    )
    async def namespaces(self, link: NamedDependency[BusLink]) -> list[str]:
        """``["default", "payments"]``; a service that does not answer adds nothing."""
        failures, found = await asyncio.gather(
            _active_failures(link), _security(link, FindingNamespaces())
        )
        names = {str(r["namespace"]) for r in failures if r.get("namespace")}
        if found.ok:
            names |= set(msgspec.json.decode(bytes(found.body)))
        return sorted(names)

    @get(
        "/monitored-pods",
        summary="Pods with active failures (suggestions for pod exclusions)",
    )
    async def monitored_pods(self, link: NamedDependency[BusLink]) -> list[dict[str, str]]:
        """``[{"pod_name", "namespace"}]``, distinct, sorted by pod name."""
        pairs = {
            (str(r["pod_name"]), str(r["namespace"]))
            for r in await _active_failures(link)
            if r.get("pod_name")
        }
        return [{"pod_name": p, "namespace": n} for p, n in sorted(pairs)]

    @get(
        "/rule-titles",
        summary="Titles of the security checks",
        description="Every built-in check's title and every title findings were raised "
        "under (with the base of 'Privileged container: app' titles); with ?namespace= "
        "the titles seen in that namespace.",
        responses=declare(list[str], "Titles, sorted"),
    )
    async def rule_titles(
        self, link: NamedDependency[BusLink], namespace: FromQuery[str | None] = None
    ) -> Response[Any]:
        """A sorted list of strings."""
        return json_reply(await _security(link, RuleTitles(namespace=namespace or None)))

    # --- Suppressed checks -------------------------------------------------------------

    @get(
        "/excluded-rules",
        opt={"service": True},
        summary="Suppressed security checks",
        responses=declare(list[ExcludedRule], "The exclusions"),
    )
    async def excluded_rules(
        self, app_settings: NamedDependency[AppSettings]
    ) -> list[dict[str, Any]]:
        """``[{"rule_title", "namespace" (null: global), "created_at"}]``."""
        rules = sorted(
            app_settings.get(EXCLUDED_RULES).rules, key=lambda r: (r.rule_title, r.namespace)
        )
        return [_rule_view(r) for r in rules]

    @post(
        "/excluded-rules",
        status_code=200,
        summary="Suppress a security check (globally or in one namespace)",
        description="Body: {rule_title, namespace?}. The title, its base or a check id; "
        "matching findings are deleted and later ones dropped. Emits rule_exclusion_change.",
        responses=declare(ExcludedRule, "The exclusion"),
    )
    async def add_excluded_rule(
        self,
        request: Request[Any, Any, State],
        app_settings: NamedDependency[AppSettings],
        link: NamedDependency[BusLink],
        data: JSONBody[RuleIn],
    ) -> dict[str, Any]:
        """Idempotent: the existing exclusion is answered again."""
        if not data.rule_title.strip():
            raise ClientException(detail="Rule title is required")
        namespace = (data.namespace or "").strip()
        wanted = RuleExclusion(
            rule_title=data.rule_title, namespace=namespace, created_at=now().isoformat()
        )
        try:
            rule = check_rule(EXCLUDED_RULES.name, wanted)
            added = await app_settings.apply(add_rule(rule), actor=principal_of(request).username)
        except SettingValidationError as exc:
            raise ClientException(detail=str(exc)) from None
        if not added:  # the existing exclusion keeps its ``created_at``
            existing = app_settings.get(EXCLUDED_RULES).rules
            rule = next((r for r in existing if same_rule(r, rule)), rule)
        purged = await _security(
            link, PurgeRule(rule_title=rule.rule_title, namespace=rule.namespace)
        )
        if not purged.ok:
            # The exclusion stands (new findings are dropped); say the old ones remain.
            raise HTTPException(
                status_code=purged.status, detail=purged.detail or SECURITY_UNAVAILABLE
            )
        await _rule_event(link, rule, "excluded")
        return _rule_view(rule)

    @delete(
        "/excluded-rules/{rule_title:path}",
        status_code=200,
        summary="Report a suppressed check again (?namespace= for a per-namespace one)",
    )
    async def remove_excluded_rule(
        self,
        request: Request[Any, Any, State],
        app_settings: NamedDependency[AppSettings],
        link: NamedDependency[BusLink],
        rule_title: FromPath[str],
        namespace: FromQuery[str | None] = None,
    ) -> dict[str, str]:
        """404 when it was not suppressed in that scope."""
        title = rule_title.lstrip("/")
        scope = f"namespace '{namespace}'" if namespace else "global"
        edit = remove_rule(title, (namespace or "").strip())
        removed = await app_settings.apply(edit, actor=principal_of(request).username)
        if not removed:
            raise NotFoundException(detail=f"Rule '{title}' not found in exclusion list")
        rule = RuleExclusion(rule_title=title, namespace=(namespace or "").strip())
        await _rule_event(link, rule, "included")
        return {"message": f"Rule '{title}' removed from exclusion list ({scope})"}

    # --- Trusted registries (the same store as /api/security/trusted-registries) -------

    @get(
        "/trusted-registries",
        opt={"service": True},
        summary="Trusted registries",
        responses=declare(list[TrustedRegistryRow], "The registries admins added"),
    )
    async def trusted_registries(self, link: NamedDependency[BusLink]) -> Response[Any]:
        """``[{"registry", "created_at": null}]``: the entries admins added, as Kure (the
        dashboard lists its own defaults beside them; the scanner merges its own)."""
        reply = await _security(link, ListRegistries())
        if not reply.ok:
            return json_reply(reply)
        listed = msgspec.json.decode(bytes(reply.body))
        defaults = set(listed["defaults"])
        rows = [
            {"registry": r, "created_at": None} for r in listed["registries"] if r not in defaults
        ]
        return Response(rows)

    @post(
        "/trusted-registries",
        status_code=200,
        summary="Trust a registry",
        responses=declare(RegistryChange, "Added, or already trusted"),
    )
    async def add_trusted_registry(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        data: JSONBody[RegistryIn],
    ) -> Response[Any]:
        """``{"registry", "message"}``; rescans stored manifests."""
        if not data.registry.strip():
            raise ClientException(detail="Registry name is required")
        actor = principal_of(request).username
        reply = await _security(link, AddRegistry(registry=data.registry, actor=actor))
        if reply.ok:
            reply = msgspec.structs.replace(reply, status=200)
        return json_reply(reply)

    @delete(
        "/trusted-registries/{registry:path}",
        status_code=200,
        summary="Stop trusting a registry",
        responses=declare(RegistryChange, "Removed"),
    )
    async def remove_trusted_registry(
        self,
        request: Request[Any, Any, State],
        link: NamedDependency[BusLink],
        registry: FromPath[str],
    ) -> Response[Any]:
        """404 when it was not trusted."""
        actor = principal_of(request).username
        command = RemoveRegistry(registry=registry.lstrip("/"), actor=actor)
        return json_reply(await _security(link, command))

    # --- Retention in minutes (the values of history/ignored_retention_minutes) --------

    @get("/settings/history-retention", summary="Resolved-pod retention in minutes")
    async def history_retention(self, app_settings: NamedDependency[AppSettings]) -> dict[str, int]:
        """``{"minutes": n}``, 0 = keep."""
        return {"minutes": app_settings.get(HISTORY_RETENTION).minutes}

    @put("/settings/history-retention", summary="Set the resolved-pod retention")
    async def set_history_retention(
        self,
        request: Request[Any, Any, State],
        app_settings: NamedDependency[AppSettings],
        data: JSONBody[Any],
    ) -> dict[str, int]:
        """``{"minutes": 0-43200}``."""
        minutes = _minutes(data)
        await app_settings.set(
            HISTORY_RETENTION, Retention(minutes=minutes), actor=principal_of(request).username
        )
        return {"minutes": minutes}

    @get("/settings/ignored-retention", summary="Ignored-pod retention in minutes")
    async def ignored_retention(self, app_settings: NamedDependency[AppSettings]) -> dict[str, int]:
        """``{"minutes": n}``, 0 = keep."""
        return {"minutes": app_settings.get(IGNORED_RETENTION).minutes}

    @put("/settings/ignored-retention", summary="Set the ignored-pod retention")
    async def set_ignored_retention(
        self,
        request: Request[Any, Any, State],
        app_settings: NamedDependency[AppSettings],
        data: JSONBody[Any],
    ) -> dict[str, int]:
        """``{"minutes": 0-43200}``."""
        minutes = _minutes(data)
        await app_settings.set(
            IGNORED_RETENTION, Retention(minutes=minutes), actor=principal_of(request).username
        )
        return {"minutes": minutes}


async def _rule_event(link: BusLink, rule: RuleExclusion, action: str) -> None:
    """Kure's ``rule_exclusion_change`` (its scanner refreshes its exclusions on it)."""
    data = {"rule_title": rule.rule_title, "namespace": rule.namespace or None, "action": action}
    await publish_event(link.js, "rule_exclusion_change", data)
