"""Mirror pods: the mirror service's request/reply commands and its API bodies.

A mirror pod is a short-lived copy of a failed pod with a fix applied, created in the same
namespace so the fix can be tried safely. Kure's ``/api/mirror/*`` bodies.
"""

from __future__ import annotations

import msgspec

MIRROR_LABEL = "kubeward.io/mirror"
"""Every mirror pod carries ``kubeward.io/mirror=true``; the reaper finds orphans by it."""
MIRROR_ID_LABEL = "kubeward.io/mirror-id"
TTL_MIN = 30
TTL_MAX = 3600
NOT_FOUND = "Mirror not found"
KUBE_NOT_AVAILABLE = "Kubernetes client not available"


class MirrorPreview(msgspec.Struct, kw_only=True):
    """``POST /api/mirror/preview/{pod_id}``."""

    fixed_manifest: str
    explanation: str
    is_fallback: bool


class MirrorInfo(msgspec.Struct, kw_only=True):
    """``POST /api/mirror/deploy/{pod_id}`` answer and one row of ``GET /api/mirror/active``."""

    mirror_id: str
    mirror_pod_name: str
    namespace: str
    status: str
    ttl_seconds: int
    created_at: str
    fixed_manifest: str
    explanation: str
    pod_id: int | None = None
    expires_at: str | None = None


class MirrorContainer(msgspec.Struct, kw_only=True):
    """One container of a mirror pod: its state (``waiting``/``running``/``terminated``)."""

    name: str
    ready: bool = False
    restart_count: int = 0
    state: str = "unknown"
    reason: str | None = None
    message: str | None = None
    exit_code: int | None = None


class MirrorEvent(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A recent Kubernetes event about the mirror pod."""

    type: str | None = None
    reason: str | None = None
    message: str | None = None
    timestamp: str | None = None


class MirrorStatus(msgspec.Struct, kw_only=True):
    """``GET /api/mirror/status/{mirror_id}``."""

    mirror_id: str
    mirror_pod_name: str
    namespace: str
    status: str
    """kubectl's STATUS word: the pod's phase (``Pending``, ``Running``, ``Succeeded``,
    ``Failed``) unless a container says more (``CrashLoopBackOff``, ``OOMKilled``…);
    ``Deleted`` when the pod is gone."""
    ttl_seconds: int
    created_at: str
    expires_at: str
    containers: list[MirrorContainer] = []
    events: list[MirrorEvent] = []
    logs: str = ""


class Preview(msgspec.Struct, kw_only=True, tag="preview", tag_field="action"):
    """Build the fixed manifest of a failure's pod."""

    pod_id: int


class Deploy(msgspec.Struct, kw_only=True, tag="deploy", tag_field="action"):
    """Create a mirror pod; the same ``request_id`` never creates a second one."""

    pod_id: int
    ttl_seconds: int | None = None
    manifest: str | None = None
    request_id: str | None = None
    actor: str = "api"


class Status(msgspec.Struct, kw_only=True, tag="status", tag_field="action"):
    """Phase, container states, recent events and a log tail of a mirror."""

    mirror_id: str


class Delete(msgspec.Struct, kw_only=True, tag="delete", tag_field="action"):
    """Delete a mirror pod and its record."""

    mirror_id: str
    actor: str = "api"


class Active(msgspec.Struct, kw_only=True, tag="active", tag_field="action"):
    """Every mirror not deleted yet."""


MirrorCommand = Preview | Deploy | Status | Delete | Active
"""Request/reply commands of the mirror service, each answered with a ``Reply``."""
