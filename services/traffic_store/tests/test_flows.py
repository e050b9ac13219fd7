"""Unit tests: flow identity (the seven-field dedup key) and folding a batch into flows."""

from __future__ import annotations

from kubeward.schemas.traffic import PodTrafficEvent, PodTrafficGroup
from kubeward.traffic_store.flows import flow_key, fold

EPHEMERAL_MIN = 32768


def ev(**changes: str) -> PodTrafficEvent:
    """A canonical event with some fields changed."""
    base = {
        "uuid": "550e8400-e29b-41d4-a716-446655440000",
        "pod_name": "web",
        "pod_namespace": "prod",
        "pod_ip": "10.0.0.1",
        "pod_port": "8080",
        "ip_protocol": "TCP",
        "traffic_type": "INGRESS",
        "traffic_in_out_ip": "10.0.0.2",
        "traffic_in_out_port": "40000",
        "decision": "ALLOW",
        "time_stamp": "2026-05-12T10:32:14.000000",
    }
    return PodTrafficEvent(**(base | changes))


def test_key_ignores_fields_outside_the_seven() -> None:
    a = ev()
    b = ev(
        uuid="650e8400-e29b-41d4-a716-446655440000",
        pod_name="other",
        pod_namespace="x",
        time_stamp="2027-01-01T00:00:00.000000",
    )
    assert flow_key(a, EPHEMERAL_MIN) == flow_key(b, EPHEMERAL_MIN)


def test_each_of_the_seven_fields_changes_the_key() -> None:
    base = flow_key(ev(), EPHEMERAL_MIN)
    changes = {
        "pod_ip": "10.0.0.9",
        "pod_port": "9090",
        "traffic_type": "EGRESS",
        "traffic_in_out_ip": "10.0.0.9",
        "traffic_in_out_port": "40001",
        "ip_protocol": "SCTP",
        "decision": "DROP",
    }
    keys = {
        field: flow_key(ev(**{field: value}), EPHEMERAL_MIN) for field, value in changes.items()
    }
    assert all(key != base for key in keys.values()), keys
    assert len(set(keys.values())) == len(keys)


def test_tcp_ports_are_never_folded() -> None:
    assert flow_key(ev(traffic_in_out_port="50001"), EPHEMERAL_MIN) != flow_key(
        ev(traffic_in_out_port="50002"), EPHEMERAL_MIN
    )


def test_udp_ingress_folds_ephemeral_peer_port_only() -> None:
    one = flow_key(ev(ip_protocol="UDP", pod_port="53", traffic_in_out_port="50001"), EPHEMERAL_MIN)
    two = flow_key(ev(ip_protocol="UDP", pod_port="53", traffic_in_out_port="61000"), EPHEMERAL_MIN)
    assert one == two
    low = flow_key(ev(ip_protocol="UDP", pod_port="53", traffic_in_out_port="5353"), EPHEMERAL_MIN)
    assert low != one
    other_service = flow_key(
        ev(ip_protocol="UDP", pod_port="54", traffic_in_out_port="50001"), EPHEMERAL_MIN
    )
    assert other_service != one


def test_udp_egress_folds_the_pods_own_ephemeral_port() -> None:
    def egress(pod_port: str, peer: str) -> str:
        e = ev(
            ip_protocol="UDP", traffic_type="EGRESS", pod_port=pod_port, traffic_in_out_port=peer
        )
        return flow_key(e, EPHEMERAL_MIN)

    assert egress("40001", "53") == egress("59999", "53")
    assert egress("40001", "53") != egress("40001", "5353")


def test_fold_counts_hits_and_time_bounds_and_credits_the_first_group() -> None:
    groups = [
        PodTrafficGroup(
            origin_seq=1, reply_to=None, events=[ev(time_stamp="2026-01-02T00:00:00.000000")]
        ),
        PodTrafficGroup(
            origin_seq=2,
            reply_to="inbox",
            events=[
                ev(time_stamp="2026-01-01T00:00:00.000000"),
                ev(time_stamp="2026-01-03T00:00:00.000000"),
                ev(pod_port="9"),
            ],
        ),
    ]
    flows = fold(groups, EPHEMERAL_MIN)
    assert len(flows) == 2
    main = flows[flow_key(ev(), EPHEMERAL_MIN)]
    assert main.hits == 3
    assert main.group == 0
    assert (main.first_seen, main.last_seen) == (
        "2026-01-01T00:00:00.000000",
        "2026-01-03T00:00:00.000000",
    )
    assert flows[flow_key(ev(pod_port="9"), EPHEMERAL_MIN)].group == 1


def test_values_kept_as_given_key_on_their_text_and_never_fold() -> None:
    # Ingest stores what kguardian's broker stores as given ("http", "70000", a peer that
    # is not an IP, an unknown traffic_type); none of it may crash or fold the UDP key.
    udp = {"ip_protocol": "UDP", "pod_port": "53"}
    named = flow_key(ev(**udp, traffic_in_out_port="http"), EPHEMERAL_MIN)
    assert named == "10.0.0.1|53|INGRESS|10.0.0.2|http|UDP|ALLOW"
    big = flow_key(ev(**udp, traffic_in_out_port="70000"), EPHEMERAL_MIN)
    assert big != flow_key(ev(**udp, traffic_in_out_port="70001"), EPHEMERAL_MIN)
    sideways = {"ip_protocol": "UDP", "traffic_type": "SIDEWAYS", "pod_port": "50001"}
    assert flow_key(ev(**sideways), EPHEMERAL_MIN) != flow_key(
        ev(**sideways | {"pod_port": "50002"}), EPHEMERAL_MIN
    )


def test_separators_and_literal_stars_in_values_never_merge_distinct_flows() -> None:
    variants = [
        ev(pod_ip="a|b", pod_port="c"),
        ev(pod_ip="a", pod_port="b|c"),
        ev(pod_ip="a\\", pod_port="|c"),
        ev(pod_ip="a\\|b", pod_port="c"),
        ev(ip_protocol="UDP", traffic_in_out_port="*"),
        ev(ip_protocol="UDP", traffic_in_out_port="50001"),
        ev(ip_protocol="UDP", traffic_in_out_port="\\*"),
    ]
    keys = [flow_key(v, EPHEMERAL_MIN) for v in variants]
    assert len(set(keys)) == len(keys), keys
    # Plain values keep the plain key flows were always stored under.
    assert flow_key(ev(), EPHEMERAL_MIN) == "10.0.0.1|8080|INGRESS|10.0.0.2|40000|TCP|ALLOW"
    folded = ev(ip_protocol="UDP", traffic_in_out_port="61000")
    assert flow_key(folded, EPHEMERAL_MIN) == "10.0.0.1|8080|INGRESS|10.0.0.2|*|UDP|ALLOW"
