"""Kubeward's built-in manifest scanner: pure Python, no I/O.

Parse manifest text with :func:`parse_manifests`, then :func:`scan` the objects::

    objects = parse_manifests(text)
    findings = scan(objects, trusted_registries=DEFAULT_TRUSTED_REGISTRIES)

Covers Pods and the pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets,
ReplicationControllers, Jobs and CronJobs (pod security, resources, probes, images), RBAC
Roles and bindings, Ingresses, Services and Namespaces. :data:`CHECKS` lists every check.
"""

from __future__ import annotations

from kubeward.security.scanner.catalog import CHECKS
from kubeward.security.scanner.engine import scan
from kubeward.security.scanner.images import (
    DEFAULT_TRUSTED_REGISTRIES,
    ImageRef,
    image_registry,
    is_trusted,
    parse_image,
)
from kubeward.security.scanner.model import CheckInfo, Finding
from kubeward.security.scanner.parse import parse_manifests

__all__ = [
    "CHECKS",
    "DEFAULT_TRUSTED_REGISTRIES",
    "CheckInfo",
    "Finding",
    "ImageRef",
    "image_registry",
    "is_trusted",
    "parse_image",
    "parse_manifests",
    "scan",
]
