"""Finding kubeward's mirror pods in the cluster: the label selector, the list, the id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from kubeward.kube.client import KubeClient, is_not_found
from kubeward.schemas.mirror import MIRROR_ID_LABEL, MIRROR_LABEL

SELECTOR = f"{MIRROR_LABEL}=true"


def mirror_id_of(pod: Mapping[str, Any]) -> str | None:
    """The ``kubeward.io/mirror-id`` of a pod labelled as a mirror (``""`` if it has none);
    ``None`` for any other pod.

    The selector is checked again here: not every API server (kmock's emulator) applies it.
    """
    labels = (pod.get("metadata") or {}).get("labels") or {}
    if labels.get(MIRROR_LABEL) != "true":
        return None
    return str(labels.get(MIRROR_ID_LABEL, ""))


async def list_mirror_pods(kube: KubeClient) -> tuple[list[dict[str, Any]], str | None]:
    """Every mirror pod in every namespace, and the list's resource version."""
    try:
        raw = await kube.raw(kube.core.list_pod_for_all_namespaces, label_selector=SELECTOR)
    except Exception as exc:
        if not is_not_found(exc):  # kmock's emulator: 404 while it holds no pod at all
            raise
        return [], None
    listing = msgspec.json.decode(raw)
    pods = [p for p in listing.get("items") or [] if mirror_id_of(p) is not None]
    version = (listing.get("metadata") or {}).get("resourceVersion")
    return pods, str(version) if version else None
