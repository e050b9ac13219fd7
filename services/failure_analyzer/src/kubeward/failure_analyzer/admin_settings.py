"""The admin settings failure-analyzer reads, over the generic store.

The keys and values are contracts (:mod:`kubeward.schemas.settings`, written by the
gateway's admin API); these accessors are what this service makes of them. Reads are
in-memory look-ups of the store's live copy.
"""

from __future__ import annotations

from typing import Final

from kubeward.core.app_settings import AppSettings
from kubeward.schemas.setting_key import KeyRegistry
from kubeward.schemas.settings import (
    EXCLUDED_NAMESPACES,
    EXCLUDED_PODS,
    HISTORY_RETENTION,
    IGNORED_RETENTION,
    LLM_CONFIG,
    NOTIFICATIONS,
    LLMConfig,
    Provider,
    WebhookConfig,
)

KEYS: Final = KeyRegistry(
    (
        HISTORY_RETENTION,
        IGNORED_RETENTION,
        EXCLUDED_NAMESPACES,
        EXCLUDED_PODS,
        LLM_CONFIG,
        *NOTIFICATIONS.values(),
    )
)
"""The keys this service reads (what it opens the store with)."""


def history_retention_minutes(store: AppSettings) -> int:
    """Delete resolved pod failures after this many minutes (0: keep forever)."""
    return store.get(HISTORY_RETENTION).minutes


def ignored_retention_minutes(store: AppSettings) -> int:
    """Delete ignored pod failures after this many minutes (0: keep forever)."""
    return store.get(IGNORED_RETENTION).minutes


def excluded_namespaces(store: AppSettings) -> tuple[str, ...]:
    """Namespace glob patterns whose pods are not reported."""
    return store.get(EXCLUDED_NAMESPACES).patterns


def excluded_pods(store: AppSettings) -> tuple[str, ...]:
    """Pod-name glob patterns that are not reported."""
    return store.get(EXCLUDED_PODS).patterns


def llm_config(store: AppSettings) -> LLMConfig | None:
    """The LLM configuration with the API key in clear (for the provider client), or
    ``None`` when none is set or it cannot be decrypted (see ``store.problems()``)."""
    return store.get(LLM_CONFIG)


def enabled_notifications(store: AppSettings) -> dict[Provider, WebhookConfig]:
    """Provider -> webhook config of every enabled provider: what
    :func:`kubeward.integrations.notify.send_all` takes."""
    enabled: dict[Provider, WebhookConfig] = {}
    for provider, key in NOTIFICATIONS.items():
        setting = store.get(key)
        if setting is not None and setting.enabled:
            enabled[provider] = setting.config
    return enabled
