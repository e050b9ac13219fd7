"""The status word of a mirror pod, as kubectl's STATUS column shows it."""

from __future__ import annotations

from typing import Any

import pytest

from kubeward.mirror.pod_state import pod_status, resource_version


def pod(status: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", **metadata}, "status": status}


def waiting(reason: str) -> dict[str, Any]:
    return {"name": "c", "state": {"waiting": {"reason": reason}}}


def terminated(reason: str, code: int) -> dict[str, Any]:
    return {"name": "c", "state": {"terminated": {"reason": reason, "exitCode": code}}}


RUNNING = {"name": "c", "state": {"running": {"startedAt": "2026-11-24T10:00:00Z"}}}


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (pod({}), "Pending"),
        (
            pod({"phase": "Pending", "containerStatuses": [waiting("ContainerCreating")]}),
            "ContainerCreating",
        ),
        (pod({"phase": "Running", "containerStatuses": [RUNNING]}), "Running"),
        (
            pod({"phase": "Running", "containerStatuses": [RUNNING, waiting("CrashLoopBackOff")]}),
            "CrashLoopBackOff",
        ),
        (
            pod({"phase": "Pending", "containerStatuses": [waiting("ImagePullBackOff")]}),
            "ImagePullBackOff",
        ),
        (
            pod({"phase": "Failed", "containerStatuses": [terminated("OOMKilled", 137)]}),
            "OOMKilled",
        ),
        (
            pod({"phase": "Succeeded", "containerStatuses": [terminated("Completed", 0)]}),
            "Completed",
        ),
        (pod({"phase": "Failed", "reason": "Evicted"}), "Evicted"),
        (
            pod({"phase": "Pending", "initContainerStatuses": [terminated("Error", 1)]}),
            "Init:Error",
        ),
        (pod({"phase": "Pending", "initContainerStatuses": [waiting("PodInitializing")]}), "Init"),
        (
            pod(
                {
                    "phase": "Pending",
                    "initContainerStatuses": [terminated("Completed", 0)],
                    "containerStatuses": [waiting("PodInitializing")],
                }
            ),
            "PodInitializing",
        ),
        (
            pod({"phase": "Running", "containerStatuses": [RUNNING]}, deletionTimestamp="x"),
            "Terminating",
        ),
    ],
)
def test_status_words(manifest: dict[str, Any], expected: str) -> None:
    assert pod_status(manifest) == expected


def test_resource_version_orders_only_numbers() -> None:
    assert resource_version(pod({}, resourceVersion="48213")) == 48213
    assert resource_version(pod({}, resourceVersion="...")) is None
    assert resource_version({}) is None
