"""Security input in ingest: scanner findings and workload manifests (validation units)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from kubeward.ingest.routing import parse_records
from kubeward.ingest.security import decode_finding, decode_objects
from kubeward.schemas.security import CLUSTER_SCOPE, NAME_REQUIRED

FINDING: dict[str, Any] = {
    "resource_type": "Pod",
    "resource_name": "my-app-7d9f8b6c4-abc12",
    "namespace": "default",
    "check_name": "privileged_container",
    "severity": "Critical",
    "message": "Container 'app' is running in privileged mode",
}


def test_a_finding_as_the_scanner_sends_it_is_normalised() -> None:
    finding = decode_finding(msgspec.json.encode(FINDING))
    assert finding.severity == "critical"
    assert finding.details is None


def test_kures_older_finding_shape_is_accepted() -> None:
    older = {k: v for k, v in FINDING.items() if k not in ("check_name", "message")}
    older |= {"title": "Privileged container", "description": "…", "category": "Security"}
    assert decode_finding(msgspec.json.encode(older)).title == "Privileged container"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"namespace": ""}, NAME_REQUIRED),
        ({"resource_name": " "}, NAME_REQUIRED),
        ({"severity": "apocalyptic"}, "severity: 'apocalyptic' is not one of"),
        ({"check_name": None}, "check_name (or title) is required"),
        ({"details": "not a map"}, "`details`"),
    ],
)
def test_bad_findings_name_the_problem(change: dict[str, Any], reason: str) -> None:
    records, rejects = parse_records(msgspec.json.encode(FINDING | change), decode_finding)
    assert records == []
    assert reason in rejects[0].reason


def test_cluster_scoped_kinds_need_no_namespace() -> None:
    role = FINDING | {"resource_type": "ClusterRole", "resource_name": "admin", "namespace": ""}
    assert decode_finding(msgspec.json.encode(role)).namespace == CLUSTER_SCOPE


def test_manifests_are_objects_lists_or_arrays() -> None:
    pod = {"kind": "Pod", "metadata": {"name": "a"}}
    assert decode_objects(msgspec.json.encode(pod)) == [pod]
    assert len(decode_objects(msgspec.json.encode([pod, pod]))) == 2
    as_list = {"kind": "List", "items": [pod, pod, pod]}
    assert len(decode_objects(msgspec.json.encode(as_list))) == 3


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"metadata": {"name": "a"}}, "kind is required"),
        ({"kind": "Pod", "metadata": {}}, "metadata.name is required"),
        ([{"kind": "Pod", "metadata": {"name": "a"}}, 7], "[1] is not an object"),
        ([{"kind": "Pod", "metadata": {"name": "a"}}] * 501, "the limit is 500"),
    ],
)
def test_bad_manifests_are_refused_whole(body: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=f".*{reason[:10]}.*".replace("[", r"\[")):
        decode_objects(msgspec.json.encode(body))
    with pytest.raises(ValueError, match="malformed JSON"):
        decode_objects(b"{nope")
