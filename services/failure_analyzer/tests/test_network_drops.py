"""The dropped-traffic analyzer's ranking against the ledger crash of
``devstack.cluster_world`` and a DropReport in traffic-store's shape (the end-to-end path,
with traffic-store answering over the bus, is ``gateway/tests/test_failure_traffic_api.py``)."""

from __future__ import annotations

import msgspec

from kubeward.devstack import cluster_world as world
from kubeward.failure_analyzer.analyzers.network_drops import (
    DROPS_ONLY,
    MATCHED,
    NETWORK_LOGS,
    log_addresses,
)
from kubeward.failure_analyzer.diagnosis import diagnose
from kubeward.failure_analyzer.report_view import ReportView
from kubeward.schemas.network import DroppedFlow, DroppedPeer, DropReport
from kubeward.schemas.pod_failures import PodFailureReport

FLOW = DroppedFlow(
    pod_name=world.LEDGER,
    pod_namespace="ledger",
    traffic_type="EGRESS",
    pod_ip="10.244.4.40",
    pod_port="52000",
    peer_ip="10.96.10.30",
    peer_port="5432",
    ip_protocol="TCP",
    hits=3,
    first_seen=world.at("10:30:00"),
    last_seen=world.at("10:31:00"),
)
POSTGRES = DroppedPeer(
    source="ledger/Deployment/ledger",
    destination="shop/StatefulSet/postgres",
    peer_workload="shop/StatefulSet/postgres",
    peer_namespace="shop",
    peer_kind="StatefulSet",
    peer_name="postgres",
    peer_ip="10.96.10.30",
    peer_service="shop/postgres",
    port="postgresql",
    dialled_port="5432",
    protocol="TCP",
    dropped_at="egress",
    via="pod",
    drops=3,
    first_seen=world.at("10:30:00"),
    last_seen=world.at("10:31:00"),
    flows=[FLOW],
)
DROPS = DropReport(since=world.at("10:25:00"), until=world.at("10:36:00"), peers=[POSTGRES])


def crash(logs: str) -> PodFailureReport:
    return msgspec.convert(world.ledger_crash() | {"logs": logs}, PodFailureReport)


def ranked(report: PodFailureReport, drops: DropReport | None) -> list[tuple[str, float]]:
    return [(f.analyzer, f.confidence) for f in diagnose(report, drops).findings]


def test_a_service_name_in_the_logs_matches_the_dropped_peer() -> None:
    report = crash("Error: timed out connecting to postgres.shop.svc.cluster.local:5432\n")
    assert log_addresses(ReportView(report)) == ["postgres.shop.svc.cluster.local"]
    found = ranked(report, DROPS)
    assert found[0] == ("network.policy-drop", MATCHED)
    assert ("crash.dependency-unreachable", 0.86) in found
    # another port of the same host is not this drop
    other_port = crash("Error: timed out connecting to postgres.shop.svc.cluster.local:6432\n")
    assert ranked(other_port, DROPS)[0] == ("network.policy-drop", NETWORK_LOGS)


def test_drops_still_beat_the_generic_answer_for_another_host() -> None:
    report = crash("panic: dial tcp 10.96.77.7:6379: i/o timeout\n")
    found = ranked(report, DROPS)
    assert found[0] == ("network.policy-drop", NETWORK_LOGS)
    assert found[1][0] == "crash.dependency-unreachable"
    assert found[1][1] < NETWORK_LOGS


def test_drops_without_a_failing_connection_are_only_a_lead() -> None:
    report = crash('FATAL:  password authentication failed for user "ledger"\n')
    found = ranked(report, DROPS)
    assert found[0][0] == "crash.database-auth"
    assert ("network.policy-drop", DROPS_ONLY) in found


def test_no_drops_no_finding() -> None:
    report = crash(world.LEDGER_CRASH_LOG)
    for drops in (None, msgspec.structs.replace(DROPS, peers=[])):
        found = ranked(report, drops)
        assert found[0][0] == "crash.dependency-unreachable"
        assert all(analyzer != "network.policy-drop" for analyzer, _ in found)
