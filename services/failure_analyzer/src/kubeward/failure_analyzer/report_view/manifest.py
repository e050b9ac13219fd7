"""A report's manifest text as one camelCase dict, whichever client wrote it."""

from __future__ import annotations

from typing import Any

from kubeward.core.k8s_keys import normalize
from kubeward.core.manifest_yaml import load_yaml

MAX_MANIFEST_CHARS = 512 * 1024
"""A larger manifest is not parsed at all."""


def parse_manifest(text: str | None) -> dict[str, Any]:
    """The manifest as a camelCase dict; ``{}`` when absent, too large or not YAML."""
    if not text or len(text) > MAX_MANIFEST_CHARS:
        return {}
    try:
        data = load_yaml(text)
    except Exception:
        return {}
    if not isinstance(data, dict):
        return {}
    try:
        result: dict[str, Any] = normalize(data)
    except ValueError:  # nested too deeply to be a Kubernetes object
        return {}
    return result
