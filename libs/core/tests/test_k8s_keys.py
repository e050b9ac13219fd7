"""snake_case (the Python client's ``to_dict()``) to camelCase field names."""

from __future__ import annotations

from kubeward.core.k8s_keys import DATA_MAPS, camel, normalize


def test_camel_names_of_client_attributes() -> None:
    assert camel("security_context") == "securityContext"
    assert camel("_exec") == "exec"
    assert camel("_from") == "from"
    assert camel("pod_ip") == "podIP"
    assert camel("host_pid") == "hostPID"
    assert camel("image_id") == "imageID"
    assert camel("non_resource_ur_ls") == "nonResourceURLs"
    assert camel("containers") == "containers"


def test_normalize_keeps_user_keys_and_returns_camel_case_unchanged() -> None:
    camel = {"kind": "Pod", "metadata": {"name": "p", "labels": {"a_b": "c"}}, "spec": {}}
    assert normalize(camel) is camel
    snake = {
        "kind": "Service",
        "api_version": "v1",
        "metadata": {
            "name": "s",
            "labels": {"team_name": "x"},
            "annotations": {"my_note": "y"},
        },
        "spec": {
            "external_i_ps": ["1.2.3.4"],
            "cluster_ip": "None",
            "selector": {"app_name": "web"},
            "load_balancer_source_ranges": ["10.0.0.0/8"],
        },
        "data": {"some_key": "v"},
    }
    assert normalize(snake) == {
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": {
            "name": "s",
            "labels": {"team_name": "x"},
            "annotations": {"my_note": "y"},
        },
        "spec": {
            "externalIPs": ["1.2.3.4"],
            "clusterIP": "None",
            "selector": {"app_name": "web"},
            "loadBalancerSourceRanges": ["10.0.0.0/8"],
        },
        "data": {"some_key": "v"},
    }
    selector = {"spec": {"selector": {"match_labels": {"app_name": "w"}}}}
    assert normalize(selector) == {"spec": {"selector": {"matchLabels": {"app_name": "w"}}}}


def test_status_is_walked_unless_kept() -> None:
    pod = {"status": {"container_statuses": [{"restart_count": 2, "image_id": "x"}]}}
    assert normalize(pod) == {
        "status": {"containerStatuses": [{"restartCount": 2, "imageID": "x"}]}
    }
    assert normalize(pod, DATA_MAPS | {"status"}) is pod
