"""``/api/admin/*`` settings: LLM, exclusions, notifications, retention, mirror TTL, audit.

Values live in :class:`~kubeward.core.app_settings.AppSettings` (a NATS KV bucket every
service watches) under the keys of :mod:`kubeward.schemas.settings`, so a change reaches
every service live. Every change names its actor
and lands in the audit log. Secrets come back masked.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, HTTPException, NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody

from kubeward.core.app_settings import AppSettings
from kubeward.core.feed import publish_event
from kubeward.gateway.auth import principal_of
from kubeward.gateway.buslink import BusLink
from kubeward.gateway.responses import (
    ExcludedNamespace,
    ExcludedPod,
    NamespaceAdded,
    NamespaceRemoved,
    PodPatternAdded,
    PodPatternRemoved,
    SettingValue,
    declare,
)
from kubeward.integrations.llm import test_connection
from kubeward.integrations.notify import send, test_message
from kubeward.schemas.audit import AuditRecord
from kubeward.schemas.setting_key import SettingValidationError, UnknownSettingError
from kubeward.schemas.settings import (
    EXCLUDED_NAMESPACES,
    EXCLUDED_PODS,
    LLM_CONFIG,
    MIRROR_TTL,
    NOTIFICATIONS,
    PROVIDERS,
    LLMConfig,
    MirrorTTL,
    add_pattern,
    notification_key,
    reference_key,
    reference_scalar,
    reference_value,
    remove_pattern,
)


class LLMConfigIn(msgspec.Struct, kw_only=True):
    """``POST /api/admin/llm/config``."""

    provider: str
    model: str
    api_key: str = ""
    base_url: str | None = None


class NamespaceIn(msgspec.Struct):
    """``POST /api/admin/excluded-namespaces``."""

    namespace: str


class PodPatternIn(msgspec.Struct):
    """``POST /api/admin/excluded-pods``."""

    pod_name: str


class NotificationIn(msgspec.Struct, kw_only=True):
    """``POST /api/admin/notifications`` (``provider`` optional on PUT)."""

    provider: str | None = None
    enabled: bool = True
    config: dict[str, Any]


class SettingIn(msgspec.Struct):
    """``POST /api/admin/settings/{key}``."""

    value: str | int


class MirrorTTLIn(msgspec.Struct):
    """``PUT /api/admin/settings/mirror-ttl``."""

    seconds: int


def _actor(request: Request[Any, Any, State]) -> str:
    return principal_of(request).username


def _bad(exc: Exception) -> HTTPException:
    return ClientException(detail=str(exc).strip("'\""))


async def _feed(link: BusLink, event_type: str, data: dict[str, Any]) -> None:
    await publish_event(link.js, event_type, data)


class AdminSettingsController(Controller):
    """Admin-only settings endpoints of the Kure reference."""

    path = "/api/admin"
    tags = ["admin"]
    opt = {"role": "admin"}

    # --- LLM ---------------------------------------------------------------------------

    @get("/llm/status", summary="LLM configuration (key masked)")
    async def llm_status(self, app_settings: NamedDependency[AppSettings]) -> dict[str, Any]:
        """``configured`` and the masked configuration; when configured, also Kure's
        ``provider``, ``model`` and ``source`` the dashboard shows."""
        masked = app_settings.masked(LLM_CONFIG)
        if masked is None:
            return {"configured": False, "config": None}
        kure = {"provider": masked.provider, "model": masked.model, "source": "database"}
        return {"configured": True, "config": masked} | kure

    @post("/llm/config", status_code=200, summary="Store the LLM configuration")
    async def llm_set(
        self,
        request: Request[Any, Any, State],
        data: JSONBody[LLMConfigIn],
        app_settings: NamedDependency[AppSettings],
    ) -> dict[str, Any]:
        """The API key is encrypted at rest and never returned in clear."""
        try:
            await app_settings.set(LLM_CONFIG, msgspec.structs.asdict(data), actor=_actor(request))
        except SettingValidationError as exc:
            raise _bad(exc) from None
        return {"configured": True, "config": app_settings.masked(LLM_CONFIG)}

    @post("/llm/test", status_code=200, summary="Try an LLM configuration")
    async def llm_test(
        self, data: JSONBody[LLMConfigIn], app_settings: NamedDependency[AppSettings]
    ) -> dict[str, Any]:
        """Send a tiny prompt with the given configuration (or the stored key when
        ``api_key`` is empty and the provider matches); report ``ok``, latency, error."""
        config = msgspec.structs.asdict(data)
        stored = app_settings.get(LLM_CONFIG)
        if not data.api_key and stored is not None and stored.provider == data.provider:
            config["api_key"] = stored.api_key
        try:
            checked = LLMConfig(**config)
        except (TypeError, ValueError) as exc:
            raise _bad(exc) from None
        result: dict[str, Any] = msgspec.to_builtins(await test_connection(checked))
        # Kure's dashboard reads ``success`` and ``message``.
        message = "LLM connection successful" if result["ok"] else result.get("error")
        return result | {"success": result["ok"], "message": message or "Test failed"}

    @delete("/llm/config", status_code=200, summary="Remove the LLM configuration")
    async def llm_delete(
        self, request: Request[Any, Any, State], app_settings: NamedDependency[AppSettings]
    ) -> dict[str, Any]:
        """Diagnosis falls back to the offline analyzers."""
        removed = await app_settings.delete(LLM_CONFIG, actor=_actor(request))
        return {"configured": False, "removed": removed}

    # --- Exclusions --------------------------------------------------------------------

    @get(
        "/excluded-namespaces",
        opt={"service": True},
        summary="Excluded namespaces (glob patterns)",
        description='Kure\'s answer: [{"namespace": "kube-system", "created_at": null}, ...] '
        "(the dashboard and the scanner map over it; the scanner reads it with the "
        "service token).",
        responses=declare(list[ExcludedNamespace], "The patterns, sorted"),
    )
    async def namespaces(self, app_settings: NamedDependency[AppSettings]) -> list[dict[str, Any]]:
        """Failures and findings in these namespaces are dropped with a counted reason."""
        patterns = sorted(app_settings.get(EXCLUDED_NAMESPACES).patterns)
        return [{"namespace": p, "created_at": None} for p in patterns]

    @post(
        "/excluded-namespaces",
        status_code=201,
        summary="Exclude a namespace",
        responses=declare(NamespaceAdded, "Excluded", 201),
    )
    async def add_namespace(
        self,
        request: Request[Any, Any, State],
        data: JSONBody[NamespaceIn],
        app_settings: NamedDependency[AppSettings],
        link: NamedDependency[BusLink],
    ) -> dict[str, Any]:
        """Idempotent; emits a ``namespace_exclusion`` feed event."""
        try:
            edit = add_pattern(EXCLUDED_NAMESPACES, data.namespace)
            added = await app_settings.apply(edit, actor=_actor(request))
        except SettingValidationError as exc:
            raise _bad(exc) from None
        await _feed(
            link, "namespace_exclusion", {"namespace": data.namespace, "action": "excluded"}
        )
        return {"namespace": data.namespace, "added": added}

    @delete(
        "/excluded-namespaces/{namespace:str}",
        status_code=200,
        summary="Include again",
        responses=declare(NamespaceRemoved, "Included again"),
    )
    async def remove_namespace(
        self,
        request: Request[Any, Any, State],
        namespace: FromPath[str],
        app_settings: NamedDependency[AppSettings],
        link: NamedDependency[BusLink],
    ) -> dict[str, Any]:
        """404 when it was not excluded; emits a ``namespace_exclusion`` feed event."""
        edit = remove_pattern(EXCLUDED_NAMESPACES, namespace)
        if not await app_settings.apply(edit, actor=_actor(request)):
            raise NotFoundException(detail=f"Namespace {namespace} is not excluded")
        await _feed(link, "namespace_exclusion", {"namespace": namespace, "action": "included"})
        return {"namespace": namespace, "removed": True}

    @get(
        "/excluded-pods",
        opt={"service": True},
        summary="Excluded pod name patterns",
        description='Kure\'s answer: [{"pod_name": "test-*", "created_at": null}, ...] (Kure\'s '
        "agent reads it too, with the service token).",
        responses=declare(list[ExcludedPod], "The patterns, sorted"),
    )
    async def pods(self, app_settings: NamedDependency[AppSettings]) -> list[dict[str, Any]]:
        """Glob patterns such as ``test-*``."""
        patterns = sorted(app_settings.get(EXCLUDED_PODS).patterns)
        return [{"pod_name": p, "created_at": None} for p in patterns]

    @post(
        "/excluded-pods",
        status_code=201,
        summary="Exclude pods by name pattern",
        responses=declare(PodPatternAdded, "Excluded", 201),
    )
    async def add_pod(
        self,
        request: Request[Any, Any, State],
        data: JSONBody[PodPatternIn],
        app_settings: NamedDependency[AppSettings],
        link: NamedDependency[BusLink],
    ) -> dict[str, Any]:
        """Idempotent; emits a ``pod_exclusion`` feed event."""
        try:
            edit = add_pattern(EXCLUDED_PODS, data.pod_name)
            added = await app_settings.apply(edit, actor=_actor(request))
        except SettingValidationError as exc:
            raise _bad(exc) from None
        await _feed(
            link, "pod_exclusion", {"pod_name": data.pod_name.strip(), "action": "excluded"}
        )
        return {"pod_name": data.pod_name, "added": added}

    @delete(
        "/excluded-pods/{pod_name:str}",
        status_code=200,
        summary="Remove a pod pattern",
        responses=declare(PodPatternRemoved, "Removed"),
    )
    async def remove_pod(
        self,
        request: Request[Any, Any, State],
        pod_name: FromPath[str],
        app_settings: NamedDependency[AppSettings],
        link: NamedDependency[BusLink],
    ) -> dict[str, Any]:
        """404 when the pattern was not set; emits a ``pod_exclusion`` feed event."""
        edit = remove_pattern(EXCLUDED_PODS, pod_name)
        if not await app_settings.apply(edit, actor=_actor(request)):
            raise NotFoundException(detail=f"Pod pattern {pod_name} is not excluded")
        await _feed(link, "pod_exclusion", {"pod_name": pod_name, "action": "included"})
        return {"pod_name": pod_name, "removed": True}

    # --- Notifications -----------------------------------------------------------------

    @get("/notifications", summary="Notification providers (webhook URLs masked)")
    async def notifications(
        self, app_settings: NamedDependency[AppSettings]
    ) -> list[dict[str, Any]]:
        """Every configured provider."""
        return [
            _notification_view(app_settings, p)
            for p, k in NOTIFICATIONS.items()
            if app_settings.is_set(k)
        ]

    @post("/notifications", status_code=201, summary="Configure a provider")
    async def add_notification(
        self,
        request: Request[Any, Any, State],
        data: JSONBody[NotificationIn],
        app_settings: NamedDependency[AppSettings],
    ) -> dict[str, Any]:
        """``{provider, enabled, config: {webhook_url}}``; provider one of slack, teams,
        discord, webhook."""
        if data.provider is None:
            raise ClientException(detail="provider: required")
        return await _save_notification(request, app_settings, data.provider, data)

    @put("/notifications/{provider:str}", summary="Update a provider")
    async def update_notification(
        self,
        request: Request[Any, Any, State],
        provider: FromPath[str],
        data: JSONBody[NotificationIn],
        app_settings: NamedDependency[AppSettings],
    ) -> dict[str, Any]:
        """Replace the provider's setting."""
        return await _save_notification(request, app_settings, provider, data)

    @delete("/notifications/{provider:str}", status_code=200, summary="Remove a provider")
    async def delete_notification(
        self,
        request: Request[Any, Any, State],
        provider: FromPath[str],
        app_settings: NamedDependency[AppSettings],
    ) -> dict[str, Any]:
        """404 when it was not configured."""
        try:
            removed = await app_settings.delete(notification_key(provider), actor=_actor(request))
        except (SettingValidationError, UnknownSettingError) as exc:
            raise _bad(exc) from None
        if not removed:
            raise NotFoundException(detail=f"Notification provider {provider} is not configured")
        return {"provider": provider, "removed": True}

    @post("/notifications/{provider:str}/test", status_code=200, summary="Send a test message")
    async def test_notification(
        self, provider: FromPath[str], app_settings: NamedDependency[AppSettings]
    ) -> dict[str, Any]:
        """Really sends to the configured webhook; reports the outcome."""
        setting = app_settings.get(notification_key(provider)) if provider in PROVIDERS else None
        if setting is None:
            raise NotFoundException(detail=f"Notification provider {provider} is not configured")
        result = await send(provider, setting.config, test_message(provider))
        return {
            "provider": provider,
            "ok": result.ok,
            "status": result.status,
            "error": result.error,
        }

    # --- Settings ----------------------------------------------------------------------

    @get("/settings/mirror-ttl", summary="Mirror pod TTL")
    async def mirror_ttl(self, app_settings: NamedDependency[AppSettings]) -> dict[str, int]:
        """Seconds a mirror pod lives by default."""
        return {"seconds": app_settings.get(MIRROR_TTL).seconds}

    @put("/settings/mirror-ttl", summary="Set the mirror pod TTL (30-3600 s)")
    async def set_mirror_ttl(
        self,
        request: Request[Any, Any, State],
        data: JSONBody[MirrorTTLIn],
        app_settings: NamedDependency[AppSettings],
    ) -> dict[str, int]:
        """400 outside 30-3600."""
        try:
            await app_settings.set(
                MIRROR_TTL, MirrorTTL(seconds=data.seconds), actor=_actor(request)
            )
        except SettingValidationError as exc:
            raise _bad(exc) from None
        return {"seconds": app_settings.get(MIRROR_TTL).seconds}

    @get(
        "/settings/{key:str}",
        summary="Read a setting",
        responses=declare(SettingValue, "The value"),
    )
    async def get_setting(
        self, key: FromPath[str], app_settings: NamedDependency[AppSettings]
    ) -> dict[str, Any]:
        """``history_retention_minutes`` or ``ignored_retention_minutes``."""
        try:
            value = reference_scalar(app_settings.get(reference_key(key)))
        except (SettingValidationError, UnknownSettingError) as exc:
            raise NotFoundException(detail=f"Unknown setting: {key}") from exc
        return {"key": key, "value": str(value)}

    @post(
        "/settings/{key:str}",
        status_code=200,
        summary="Change a setting",
        responses=declare(SettingValue, "The value as stored"),
    )
    async def set_setting(
        self,
        request: Request[Any, Any, State],
        key: FromPath[str],
        data: JSONBody[SettingIn],
        app_settings: NamedDependency[AppSettings],
    ) -> dict[str, Any]:
        """``{"value": "10080"}``; 0 disables the retention."""
        try:
            stored = await app_settings.set(
                reference_key(key), reference_value(key, data.value), actor=_actor(request)
            )
            value = reference_scalar(stored)
        except UnknownSettingError as exc:
            raise NotFoundException(detail=f"Unknown setting: {key}") from exc
        except SettingValidationError as exc:
            raise _bad(exc) from None
        return {"key": key, "value": str(value)}

    # --- Audit -------------------------------------------------------------------------

    @get(
        "/audit",
        summary="Audit log of admin changes, newest first",
        responses=declare(list[AuditRecord], "Records, newest first"),
    )
    async def audit(
        self, app_settings: NamedDependency[AppSettings], limit: FromQuery[int] = 100
    ) -> list[dict[str, Any]]:
        """Who changed what, when (secrets masked)."""
        records = await app_settings.audit_log(limit=max(1, min(limit, 1000)))
        return [msgspec.to_builtins(r) for r in records]


async def _save_notification(
    request: Request[Any, Any, State],
    app_settings: AppSettings,
    provider: str,
    data: NotificationIn,
) -> dict[str, Any]:
    try:
        await app_settings.set(
            notification_key(provider),
            {"enabled": data.enabled, "config": data.config},
            actor=_actor(request),
        )
    except (SettingValidationError, UnknownSettingError) as exc:
        raise _bad(exc) from None
    return _notification_view(app_settings, provider)


def _notification_view(store: AppSettings, provider: str) -> dict[str, Any]:
    """``{provider, enabled, config}`` with the webhook URL masked."""
    shown: dict[str, Any] = msgspec.to_builtins(store.masked(notification_key(provider))) or {}
    return {"provider": provider} | shown
