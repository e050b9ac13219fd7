"""Watches mirror pods and announces each status change (``mirror_status`` feed events).

A loop per replica: list the labelled pods (and reconcile every active record with what
the list shows), then watch from the list's resource version until the watch ends, and
again. Every replica watches; the store's conditional write lets exactly one of them record
and announce a change. Records are read before the list, so a replica never writes back a
status older than one another replica recorded from a later list.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from nats.js import JetStreamContext

from kubeward.core.feed import publish_event
from kubeward.kube.client import KubeClient
from kubeward.kube.watch import watch
from kubeward.mirror.mirror_pods import SELECTOR, list_mirror_pods, mirror_id_of
from kubeward.mirror.pod_state import DELETED, pod_status, resource_version
from kubeward.mirror.store import CREATING, MirrorStore

log = logging.getLogger(__name__)


async def record_status(
    store: MirrorStore,
    js: JetStreamContext,
    pod: Mapping[str, Any],
    *,
    mirror_id: str,
    status: str,
) -> bool:
    """Store a status seen on a mirror's pod and announce it if it is a change."""
    if not await store.observe_status(mirror_id, status, resource_version(pod)):
        return False
    meta = pod.get("metadata") or {}
    await publish_event(
        js,
        "mirror_status",
        {
            "mirror_id": mirror_id,
            "mirror_pod_name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "status": status,
        },
    )
    return True


class StatusWatch:
    """The watch loop of one replica."""

    def __init__(
        self,
        kube: KubeClient,
        store: MirrorStore,
        js: JetStreamContext,
        *,
        watch_seconds: int,
        retry_seconds: float,
    ) -> None:
        self._kube = kube
        self._store = store
        self._js = js
        self._watch_seconds = watch_seconds
        self._retry_seconds = retry_seconds

    async def run(self) -> None:
        """List and watch until cancelled; errors are logged and retried."""
        while True:
            try:
                version = await self.resync()
                await self._follow(version)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("mirror pod watch failed, retrying: %r", exc)
                await asyncio.sleep(self._retry_seconds)

    async def resync(self) -> str | None:
        """Reconcile every active record with the listed pods; the list's resource version."""
        docs = [d for d in await self._store.active() if d.get("status") != CREATING]
        listed, version = await list_mirror_pods(self._kube)
        pods = {mirror_id_of(pod): pod for pod in listed}
        for doc in docs:
            pod = pods.get(doc["_id"])
            if pod is None:
                gone = {"metadata": {"name": doc["mirror_pod_name"], "namespace": doc["namespace"]}}
                await record_status(
                    self._store, self._js, gone, mirror_id=doc["_id"], status=DELETED
                )
            else:
                await record_status(
                    self._store, self._js, pod, mirror_id=doc["_id"], status=pod_status(pod)
                )
        return version

    async def _follow(self, version: str | None) -> None:
        kube = self._kube
        events = watch(
            kube,
            kube.core.list_pod_for_all_namespaces,
            label_selector=SELECTOR,
            resource_version=version,
            timeout_seconds=self._watch_seconds,
        )
        # aclosing: a cancellation while an event is being recorded must still close the
        # stream (its socket) now, not when the generator is garbage-collected.
        async with contextlib.aclosing(events):
            async for event in events:
                if event.type == "ERROR":  # 410 Gone and the like: relist
                    log.info("mirror pod watch ended by the API: %s", event.object.get("message"))
                    return
                mirror_id = mirror_id_of(event.object)
                if event.type == "BOOKMARK" or not mirror_id:
                    continue
                status = DELETED if event.type == "DELETED" else pod_status(event.object)
                await record_status(
                    self._store, self._js, event.object, mirror_id=mirror_id, status=status
                )
