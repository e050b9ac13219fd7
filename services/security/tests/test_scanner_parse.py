"""parse_manifests: YAML and JSON text to objects, and its refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import yaml

from kubeward.devstack import k8s_workloads
from kubeward.devstack.failure_reports import generate
from kubeward.security.scanner import parse_manifests

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm{i}\n"


def test_multi_document_yaml_skips_empty_documents() -> None:
    text = "---\n" + CM.format(i=1) + "---\n---\n# comment only\n---\n" + CM.format(i=2) + "---\n"
    assert [o["metadata"]["name"] for o in parse_manifests(text)] == ["cm1", "cm2"]


def test_json_object_and_array() -> None:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}
    assert parse_manifests(json.dumps(obj)) == [obj]
    assert parse_manifests(json.dumps([obj, obj])) == [obj, obj]


def test_list_kinds_are_flattened() -> None:
    text = """
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: b}
"""
    assert [(o["kind"], o["metadata"]["name"]) for o in parse_manifests(text)] == [
        ("Service", "a"),
        ("Deployment", "b"),
    ]


def test_typed_list_items_get_the_kind_from_the_list() -> None:
    text = json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "DeploymentList",
            "items": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}],
        }
    )
    objs = parse_manifests(text)
    assert [(o["kind"], o["apiVersion"], o["metadata"]["name"]) for o in objs] == [
        ("Deployment", "apps/v1", "a"),
        ("Deployment", "apps/v1", "b"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: [unclosed\n", "not valid YAML"),
        ("{not json: [", "not valid YAML"),
        (CM.format(i=1) + "---\nmetadata: {name: x}\n", "document 2 has no kind"),
        ("kind: Pod\nmetadata: {namespace: x}\n", "document 1 (Pod) has no metadata.name"),
        ("kind: Pod\nmetadata: {name: ''}\n", "has no metadata.name"),
        ("just a string\n", "document 1 is str"),
        ("- a\n- b\n", "document 1 is list"),
        (
            "kind: List\nitems:\n- kind: Pod\n  metadata: {name: a}\n- 5\n",
            "document 1, item 2 is int",
        ),
        (
            "kind: List\nitems:\n- kind: Pod\n  metadata: {name: a}\n- kind: Pod\n",
            "document 1, item 2 (Pod) has no metadata.name",
        ),
        (
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, "
                f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
                f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
                for i in range(8)
            ),
            "too many values",
        ),
    ],
    ids=[
        "yaml",
        "json",
        "no-kind",
        "no-name",
        "empty-name",
        "scalar",
        "sequence",
        "list-item",
        "list-item-no-name",
        "alias-bomb",
    ],
)
def test_refusals_name_the_document(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_manifests(text)


def test_too_many_objects() -> None:
    parse_manifests("---\n".join(CM.format(i=i) for i in range(500)))
    with pytest.raises(ValueError, match="more than 500 objects"):
        parse_manifests("---\n".join(CM.format(i=i) for i in range(501)))


def test_too_many_objects_in_a_list() -> None:
    items = [{"kind": "Pod", "metadata": {"name": f"p{i}"}} for i in range(501)]
    with pytest.raises(ValueError, match="more than 500 objects"):
        parse_manifests(json.dumps({"kind": "List", "items": items}))


def test_too_large() -> None:
    padding = "# " + "x" * 1000 + "\n"
    text = CM.format(i=1) + padding * 2100
    with pytest.raises(ValueError, match="larger than 2 MiB"):
        parse_manifests(text)
    # multi-byte characters count as bytes
    wide = CM.format(i=1) + "# " + "é" * (1024 * 1024 + 10) + "\n"
    assert len(wide) < 2 * 1024 * 1024
    with pytest.raises(ValueError, match="larger than 2 MiB"):
        parse_manifests(wide)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5000 + "]" * 5000,
        '{"a":' * 5000 + "1" + "}" * 5000,
        "kind: Pod\nspec: " + "{a: " * 5000 + "1" + "}" * 5000,
        "kind: Pod\nmetadata: {name: x}\nspec: " + "[" * 150 + "]" * 150,
    ],
)
def test_manifests_nested_too_deeply_are_a_value_error(text: str) -> None:
    """Not a RecursionError (which the service would retry, then dead-letter with its batch)."""
    with pytest.raises(ValueError, match="nested"):
        parse_manifests(text)


def agent_pod(n: int) -> dict[str, object]:
    """A failed pod as the Kure agent sends it: the Python client's ``to_dict()``."""
    started = datetime(2026, 3, 2, 7, 42, n, 226190, tzinfo=UTC)
    return {
        "api_version": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"checkout-7d9f-{n}",
            "namespace": "shop",
            "creation_timestamp": started,
            "labels": {"app": "checkout", "pod-template-hash": "7d9f"},
            "annotations": {"note": "it's 'quoted'", "empty": ""},
            "owner_references": [{"kind": "ReplicaSet", "name": "checkout-7d9f"}],
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "ghcr.io/acme/checkout:1.4.2",
                    "args": ["--port", "8080", "--verbose"],
                    "env": [{"name": "RETRIES", "value": "3"}, {"name": "ON", "value": "yes"}],
                    "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                    "security_context": {"privileged": n % 2 == 0, "run_as_user": 0},
                }
            ],
            "node_selector": None,
        },
        "status": {"phase": "Running", "start_time": started, "restart_count": n},
    }


@pytest.mark.parametrize("n", range(4))
def test_agent_manifests_read_as_the_safe_loader_reads_them(n: int) -> None:
    """The fast parser takes these (block style, anchored timestamps); the objects, their
    timestamps included, are what PyYAML's safe loader gives."""
    text = yaml.safe_dump(agent_pod(n), default_flow_style=False, sort_keys=False)
    assert "&id001" in text  # PyYAML anchors the timestamp it meets twice
    assert parse_manifests(text) == [yaml.load(text, Loader=yaml.CSafeLoader)]
    assert parse_manifests("---\n" + text) == parse_manifests(text)


def test_generated_agent_reports_read_as_the_safe_loader_reads_them() -> None:
    """The benchmarks' agent reports (every failure kind) take the same path."""
    workload = generate(80, seed=7)
    manifests = [r.manifest for r in workload.reports if r.manifest]
    assert len(manifests) == 80
    for text in manifests:
        assert parse_manifests(text) == [yaml.load(text, Loader=yaml.CSafeLoader)]


def test_generated_workloads_read_back_as_sent_from_yaml_and_json() -> None:
    """The benchmark's workloads (every kind and profile, a quarter in snake_case) parse to
    the objects that were dumped: multi-document YAML through the full loader, JSON arrays."""
    workload = k8s_workloads.generate(40, seed=5)
    for objects, text, message in zip(
        workload.objects, workload.yaml_texts, workload.messages, strict=True
    ):
        assert parse_manifests(text) == objects
        assert parse_manifests(message.decode()) == objects
