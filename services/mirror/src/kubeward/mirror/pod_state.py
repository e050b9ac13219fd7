"""What a mirror pod's state reads as: the status word ``kubectl get pods`` shows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DELETED = "Deleted"
"""The pod is gone, though kubeward did not delete it (someone else did)."""


def pod_status(pod: Mapping[str, Any]) -> str:
    """``Running``, ``CrashLoopBackOff``, ``ImagePullBackOff``, ``OOMKilled``,
    ``Completed``, ``Init:Error``, ``Terminating``… — the phase, unless a container's state
    says more (as kubectl's STATUS column)."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    if meta.get("deletionTimestamp"):
        return "Terminating"
    if status.get("reason"):  # Evicted, NodeLost, UnexpectedAdmissionError
        return str(status["reason"])
    for c in status.get("initContainerStatuses") or []:
        state = c.get("state") or {}
        done = state.get("terminated") or {}
        waiting = state.get("waiting") or {}
        if done and done.get("exitCode") == 0:
            continue
        if done:
            return f"Init:{done.get('reason') or 'Error'}"
        if waiting.get("reason") and waiting["reason"] != "PodInitializing":
            return f"Init:{waiting['reason']}"
        return "Init"
    phase = str(status.get("phase") or "Pending")
    for c in status.get("containerStatuses") or []:
        state = c.get("state") or {}
        reason = (state.get("waiting") or {}).get("reason") or (state.get("terminated") or {}).get(
            "reason"
        )
        if reason:
            return str(reason)
    return phase


def resource_version(pod: Mapping[str, Any]) -> int | None:
    """The pod's ``resourceVersion`` as a number, when it is one (etcd revisions are).

    Kubernetes calls it opaque; kubeward compares it only to order two observations of
    the same pod, and does without when it is not numeric.
    """
    text = str((pod.get("metadata") or {}).get("resourceVersion") or "")
    return int(text) if text.isascii() and text.isdigit() else None
