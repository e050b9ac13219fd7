"""The admin settings mirror reads, over the generic store.

The keys and values are contracts (:mod:`kubeward.schemas.settings`, written by the
gateway's admin API); these accessors are what this service makes of them. Reads are
in-memory look-ups of the store's live copy.
"""

from __future__ import annotations

from typing import Final

from kubeward.core.app_settings import AppSettings
from kubeward.schemas.setting_key import KeyRegistry
from kubeward.schemas.settings import LLM_CONFIG, MIRROR_TTL, LLMConfig

KEYS: Final = KeyRegistry((MIRROR_TTL, LLM_CONFIG))
"""The keys this service reads (what it opens the store with)."""


def mirror_ttl_seconds(store: AppSettings) -> int:
    """Default lifetime of a mirror pod (30..3600, default 180)."""
    return store.get(MIRROR_TTL).seconds


def llm_config(store: AppSettings) -> LLMConfig | None:
    """The LLM configuration (API key in clear), or ``None`` when none is readable."""
    return store.get(LLM_CONFIG)
