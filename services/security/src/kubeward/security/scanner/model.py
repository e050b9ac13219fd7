"""The scanner's data: a check's catalogue entry and a finding."""

from __future__ import annotations

from typing import Any

import msgspec

from kubeward.schemas.security import Severity


class CheckInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What a check is, independent of any resource: for docs and offline fix explanations."""

    id: str
    """Stable kebab-case id; the ``check`` of every finding the check raises."""
    title: str
    severity: Severity
    """Every finding of this check has this severity."""
    category: str
    description: str
    """Why it matters."""
    remediation: str
    """What to change, generically (a YAML snippet where helpful)."""


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    """One problem the scanner found in one object."""

    check: str
    """The id of the check (a key of :data:`CHECKS`)."""
    title: str
    severity: Severity
    category: str
    message: str
    """Specific: names the resource and the container, rule, host or port."""
    remediation: str
    json_path: str
    """Where the check looked, camelCase, e.g.
    ``spec.template.spec.containers[0].securityContext.privileged``."""
    resource_type: str
    """The object's ``kind``."""
    resource_name: str
    namespace: str
    """The object's namespace (``default`` when a namespaced object gives none);
    :data:`~kubeward.schemas.security.CLUSTER_SCOPE` for cluster-scoped kinds."""
    details: dict[str, Any]
    """``container`` when about one container, ``field`` (relative path), and whatever
    identifies the part: ``rule``, ``host``, ``port``, ``image``, ``volume`` ..."""
