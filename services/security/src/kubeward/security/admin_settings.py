"""The admin settings the security service reads, over the generic store.

The keys and values are contracts (:mod:`kubeward.schemas.settings`, written by the
gateway's admin API); these accessors and the suppressed-check matcher are what this
service makes of them. Reads are in-memory look-ups of the store's live copy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from kubeward.core.app_settings import AppSettings
from kubeward.schemas.setting_key import KeyRegistry
from kubeward.schemas.settings import (
    EXCLUDED_NAMESPACES,
    EXCLUDED_PODS,
    EXCLUDED_RULES,
    LLM_CONFIG,
    LLMConfig,
    RuleExclusion,
)

KEYS: Final = KeyRegistry((EXCLUDED_NAMESPACES, EXCLUDED_PODS, EXCLUDED_RULES, LLM_CONFIG))
"""The keys this service reads (what it opens the store with)."""


def excluded_namespaces(store: AppSettings) -> tuple[str, ...]:
    """Namespace glob patterns whose objects are not scanned."""
    return store.get(EXCLUDED_NAMESPACES).patterns


def excluded_pods(store: AppSettings) -> tuple[str, ...]:
    """Pod-name glob patterns that are not scanned."""
    return store.get(EXCLUDED_PODS).patterns


def llm_config(store: AppSettings) -> LLMConfig | None:
    """The LLM configuration (API key in clear) for AI fixes, or ``None``."""
    return store.get(LLM_CONFIG)


def excluded_rules(store: AppSettings) -> tuple[RuleExclusion, ...]:
    """Suppressed security checks, global (``namespace`` empty) and per namespace."""
    return store.get(EXCLUDED_RULES).rules


def is_suppressed(store: AppSettings, title: str, check: str, namespace: str) -> bool:
    """Whether a finding with this title / check id in ``namespace`` is suppressed."""
    return is_rule_excluded(title, check, namespace, excluded_rules(store))


def rule_base(title: str) -> str:
    """The rule a finding title belongs to: ``Privileged container: app`` ->
    ``Privileged container`` (Kure's scanner names the container after ``": "``)."""
    return title.split(": ", 1)[0]


def is_rule_excluded(
    title: str, check: str, namespace: str, rules: Iterable[RuleExclusion]
) -> bool:
    """Whether a finding (its title, check id and namespace) is suppressed by a rule
    exclusion: same title, same base title or same check id, globally or in its namespace."""
    base = rule_base(title)
    return any(
        (not r.namespace or r.namespace == namespace) and r.rule_title in (title, base, check)
        for r in rules
    )
