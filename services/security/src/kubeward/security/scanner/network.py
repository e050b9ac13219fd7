"""Exposure: Ingresses, Services, and Namespaces (NetworkPolicy, Pod Security Admission)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import Any

from kubeward.security.scanner import catalog as checks
from kubeward.security.scanner.base import Target, as_list, as_map, as_str, finding
from kubeward.security.scanner.model import Finding

SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
NETWORK_POLICY_KINDS = frozenset({"NetworkPolicy", "CiliumNetworkPolicy"})
PSA_ENFORCE = "pod-security.kubernetes.io/enforce"

# Annotations that make a cloud load balancer internal (not reachable from the internet).
_INTERNAL_LB = {
    "service.beta.kubernetes.io/aws-load-balancer-internal": None,
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
    "networking.gke.io/load-balancer-type": "internal",
    "cloud.google.com/load-balancer-type": "internal",
    "service.beta.kubernetes.io/oci-load-balancer-internal": "true",
    "service.beta.kubernetes.io/openstack-internal-load-balancer": "true",
}


def _covered(host: str, tls_hosts: set[str]) -> bool:
    if host in tls_hosts:
        return True
    _, dot, parent = host.partition(".")
    return bool(dot) and f"*.{parent}" in tls_hosts


def check_ingress(obj: Any, target: Target) -> Iterator[Finding]:
    """No TLS; wildcard or missing hosts; hosts not covered by TLS."""
    spec = as_map(obj.get("spec"))
    rules = [as_map(r) for r in as_list(spec.get("rules"))]
    tls = [as_map(t) for t in as_list(spec.get("tls"))]
    for i, rule in enumerate(rules):
        host = as_str(rule.get("host"))
        if not host or host.startswith("*"):
            yield finding(
                checks.INGRESS_WILDCARD_HOST,
                target,
                f"{target.label()} rule {i} "
                + (f'uses the wildcard host "{host}".' if host else "has no host (any host)."),
                f"spec.rules[{i}].host",
                {"field": f"spec.rules[{i}].host", "rule": i, "host": host},
            )
    if not tls:
        if rules or spec.get("defaultBackend"):
            hosts = sorted({h for r in rules if (h := as_str(r.get("host")))})
            yield finding(
                checks.INGRESS_NO_TLS,
                target,
                f"{target.label()} has no TLS" + (f" for {', '.join(hosts)}." if hosts else "."),
                "spec.tls",
                {"field": "spec.tls", "hosts": hosts},
            )
        return
    tls_hosts = {h for t in tls for h in as_list(t.get("hosts")) if isinstance(h, str)}
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        host = as_str(rule.get("host"))
        if host and host not in seen and not _covered(host, tls_hosts):
            seen.add(host)
            yield finding(
                checks.INGRESS_TLS_MISSING_HOST,
                target,
                f'{target.label()} serves host "{host}" without TLS.',
                f"spec.rules[{i}].host",
                {"field": f"spec.rules[{i}].host", "rule": i, "host": host},
            )


def _internal_lb(annotations: Any) -> bool:
    for key, wanted in _INTERNAL_LB.items():
        value = annotations.get(key)
        if value is None:
            continue
        text = str(value).strip().lower()
        if wanted is None or text == wanted:
            return True
    return False


def check_service(obj: Any, target: Target) -> Iterator[Finding]:
    """NodePort, LoadBalancer (open or restricted), externalIPs."""
    spec = as_map(obj.get("spec"))
    kind = as_str(spec.get("type"))
    if kind == "NodePort":
        ports = [p["nodePort"] for p in as_list(spec.get("ports")) if as_map(p).get("nodePort")]
        yield finding(
            checks.SERVICE_NODE_PORT,
            target,
            f"{target.label()} is a NodePort Service, open on every node"
            + (f" (ports {', '.join(map(str, ports))})." if ports else "."),
            "spec.type",
            {"field": "spec.type", "ports": ports},
        )
    elif kind == "LoadBalancer":
        ranges = [r for r in as_list(spec.get("loadBalancerSourceRanges")) if isinstance(r, str)]
        annotations = as_map(as_map(obj.get("metadata")).get("annotations"))
        open_ranges = [r for r in ranges if r.strip() in ("0.0.0.0/0", "::/0")]
        internal = _internal_lb(annotations)
        if (not ranges or open_ranges) and not internal:
            yield finding(
                checks.SERVICE_LOAD_BALANCER_OPEN,
                target,
                f"{target.label()} is a LoadBalancer reachable from any address"
                + (" (loadBalancerSourceRanges allows 0.0.0.0/0)." if ranges else "."),
                "spec.loadBalancerSourceRanges",
                {"field": "spec.loadBalancerSourceRanges", "source_ranges": ranges},
            )
        else:
            yield finding(
                checks.SERVICE_LOAD_BALANCER,
                target,
                f"{target.label()} is a LoadBalancer restricted to "
                + (", ".join(ranges) if ranges else "an internal network")
                + ".",
                "spec.type",
                {"field": "spec.type", "source_ranges": ranges, "internal": internal},
            )
    ips = [ip for ip in as_list(spec.get("externalIPs")) if isinstance(ip, str)]
    if ips:
        yield finding(
            checks.SERVICE_EXTERNAL_IPS,
            target,
            f"{target.label()} claims externalIPs {', '.join(ips)}.",
            "spec.externalIPs",
            {"field": "spec.externalIPs", "external_ips": ips},
        )


def namespace_check(
    policy_namespaces: Collection[str],
) -> Callable[[Any, Target], Iterator[Finding]]:
    """The Namespace check, knowing which namespaces have a NetworkPolicy."""

    def check_namespace(obj: Any, target: Target) -> Iterator[Finding]:
        name = target.name
        if name in SYSTEM_NAMESPACES:
            return
        if name not in policy_namespaces:
            yield finding(
                checks.NAMESPACE_NO_NETWORK_POLICY,
                target,
                f'Namespace "{name}" has no NetworkPolicy: its pods accept traffic from '
                "anywhere in the cluster.",
                "metadata.name",
                {"field": "networkPolicy", "namespace": name},
            )
        labels = as_map(as_map(obj.get("metadata")).get("labels"))
        enforce = labels.get(PSA_ENFORCE)
        path = f"metadata.labels['{PSA_ENFORCE}']"
        if not isinstance(enforce, str) or not enforce:
            yield finding(
                checks.NAMESPACE_NO_PSA,
                target,
                f'Namespace "{name}" has no {PSA_ENFORCE} label.',
                path,
                {"field": path, "namespace": name},
            )
        elif enforce.strip().lower() == "privileged":
            yield finding(
                checks.NAMESPACE_PSA_PRIVILEGED,
                target,
                f'Namespace "{name}" enforces the privileged Pod Security level.',
                path,
                {"field": path, "namespace": name, "level": enforce},
            )

    return check_namespace
