"""``scan``: every check over every object, tolerant of anything."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

from kubeward.core.k8s_keys import DATA_MAPS, normalize
from kubeward.security.scanner.base import Target
from kubeward.security.scanner.images import trust_entry
from kubeward.security.scanner.model import Finding
from kubeward.security.scanner.network import (
    NETWORK_POLICY_KINDS,
    check_ingress,
    check_service,
    namespace_check,
)
from kubeward.security.scanner.rbac import RBAC_CHECKS
from kubeward.security.scanner.workloads import WORKLOAD_CHECKS, image_checks, workload

log = logging.getLogger("kubeward.security.scanner")

ObjectCheck = Callable[[Any, Target], Iterator[Finding]]

UNREAD = DATA_MAPS | {"status", "managedFields"}
"""Fields no check reads, and large on live objects: left as they are."""


def scan(
    objects: Sequence[Mapping[str, Any]],
    *,
    trusted_registries: Sequence[str],
    network_policy_namespaces: Collection[str] = (),
) -> list[Finding]:
    """Run every built-in check over ``objects`` (camelCase or the Python client's
    snake_case) and return the findings, in object order.

    Kinds without checks give no findings. Odd input (nulls, wrong types, missing fields)
    never raises: a check that fails is logged and skipped. ``network_policy_namespaces``
    are namespaces known to have a NetworkPolicy; NetworkPolicies among ``objects`` count
    too.
    """
    normalised: list[tuple[Any, Target]] = []
    policy_namespaces = set(network_policy_namespaces)
    for obj in objects:
        try:
            if not isinstance(obj, Mapping):
                continue
            # An object with ``apiVersion`` is camelCase already (kubectl, the API); the
            # Python client's to_dict() says ``api_version``.
            item = obj if isinstance(obj, dict) and "apiVersion" in obj else normalize(obj, UNREAD)
            target = Target.of(item)
            if not target.kind:
                continue
            if target.kind in NETWORK_POLICY_KINDS:
                policy_namespaces.add(target.namespace)
            normalised.append((item, target))
        except Exception:
            log.warning("scanner: could not read an object; skipped", exc_info=True)

    trusted = tuple(trust_entry(t) for t in trusted_registries if isinstance(t, str) and t.strip())
    workload_checks = (*WORKLOAD_CHECKS, image_checks(trusted))
    object_checks: dict[str, ObjectCheck] = {
        **RBAC_CHECKS,
        "Ingress": check_ingress,
        "Service": check_service,
        "Namespace": namespace_check(policy_namespaces),
    }

    findings: list[Finding] = []
    for item, target in normalised:
        check = object_checks.get(target.kind)
        if check is not None:
            _run(findings, check.__name__, target, check(item, target))
            continue
        try:
            pod = workload(item, target)
        except Exception:
            log.warning("scanner: could not read the pod spec of %s", target, exc_info=True)
            continue
        if pod is not None:
            for wcheck in workload_checks:
                _run(findings, wcheck.__name__, target, wcheck(pod))
    return findings


def _run(findings: list[Finding], name: str, target: Target, found: Iterable[Finding]) -> None:
    try:
        results = list(found)
    except Exception:
        log.warning(
            "scanner: check %s failed on %s %s/%s; skipped",
            name,
            target.kind,
            target.namespace,
            target.name,
            exc_info=True,
        )
        return
    findings.extend(results)
