"""Unit tests: kguardian inventory records in ingest (what is refused, how the rest is stored).

Pins kguardian-dev/kguardian broker/src/types.rs and add.rs @
00cc19b8d574b96fffc15fe4e76999b2f9062b43: serde refuses a missing required field, a wrong
JSON type and a time that is not a ``NaiveDateTime``; the upsert canonicalises IPs, puts
the primary IP first in ``pod_ips``, keeps only the five capture tiers, derives
``host_network`` and ``started_at`` from the manifest, then slims the manifest.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from kubeward.ingest.inventory import _DECODERS, canonical_ip
from kubeward.ingest.routing import parse_records


def pod(**changes: Any) -> dict[str, Any]:
    """A controller's ``PodDetail``."""
    return {
        "pod_ip": "FD00:0:0:0:0:0:0:5",
        "pod_ips": ["fd00::5", "10.0.0.5", "", 7],
        "pod_name": "web-1",
        "pod_namespace": None,
        "pod_obj": {
            "metadata": {"name": "web-1", "managedFields": [{}]},
            "spec": {"hostNetwork": True, "containers": []},
            "status": {"startTime": "2026-05-12T08:00:00Z"},
        },
        "time_stamp": "2026-05-12T10:00:00.123456789",
        "node_name": "node-a",
        "is_dead": False,
        "capture_level": " High ",
    } | changes


def decode(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """The normalised record ingest forwards."""
    out: dict[str, Any] = msgspec.json.decode(_DECODERS[kind](msgspec.json.encode(body)))
    return out


def test_pod_spec_is_normalised_as_the_broker_stores_it() -> None:
    out = decode("pod-spec", pod())
    assert out["pod_ip"] == "fd00::5"
    assert out["pod_ips"] == ["fd00::5", "10.0.0.5"]
    assert out["pod_obj"] == {"metadata": {"name": "web-1"}, "spec": {"hostNetwork": True}}
    assert out["host_network"] is True
    assert out["started_at"] == "2026-05-12T08:00:00.000000"
    assert out["time_stamp"] == "2026-05-12T10:00:00.123456"
    assert out["capture_level"] == "high"
    assert decode("pod-spec", pod(capture_level="everything"))["capture_level"] is None


def test_posted_values_win_over_the_manifest() -> None:
    out = decode("pod-spec", pod(host_network=False, started_at="2026-05-12T09:00:00"))
    assert out["host_network"] is False
    assert out["started_at"] == "2026-05-12T09:00:00.000000"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"node_name": None}, "node_name"),
        ({"is_dead": "no"}, "is_dead"),
        ({"pod_ip": 5}, "pod_ip"),
        ({"time_stamp": "yesterday"}, "time_stamp"),
    ],
)
def test_what_serde_refuses_is_refused(changes: dict[str, Any], field: str) -> None:
    body = {k: v for k, v in pod(**changes).items() if not (k == "node_name" and v is None)}
    with pytest.raises(ValueError, match=field):
        decode("pod-spec", body)


def test_one_bad_record_of_a_bus_array_is_rejected_alone() -> None:
    data = msgspec.json.encode([pod(), pod(is_dead="x"), pod(pod_name="web-2")])
    records, rejects = parse_records(data, _DECODERS["pod-spec"])
    assert len(records) == 2 and [r.index for r in rejects] == [1]


def test_mark_dead_and_services_and_syscalls() -> None:
    assert decode("pod-dead", {"pod_name": " web-1 ", "pod_ip": " "}) == {
        "pod_name": "web-1",
        "pod_ip": None,
    }
    svc = decode(
        "svc-spec",
        {
            "svc_ip": "FD00::A",
            "service_spec": {"status": {}, "spec": {}},
            "time_stamp": "2026-05-12T10:00:00",
        },
    )
    assert svc["svc_ip"] == "fd00::a" and svc["service_spec"] == {"spec": {}}
    assert svc["svc_name"] is None
    headless = decode("svc-spec", {"svc_ip": "None", "time_stamp": "2026-05-12T10:00:00"})
    assert headless["svc_ip"] == "None"
    with pytest.raises(ValueError, match="syscalls"):
        decode("pod-syscalls", {"pod_name": "a", "pod_namespace": "b", "syscalls": "read",
                                "arch": "x86_64", "time_stamp": "2026-05-12T10:00:00"})  # fmt: skip


def test_canonical_ip_keeps_what_is_not_an_ip() -> None:
    assert canonical_ip("FD00::0001") == "fd00::1"
    assert canonical_ip("None") == "None"
