"""Answers ``kubeward.rpc.mirror.command``: preview, deploy, status, delete, active; reaping."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

import msgspec
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from kubeward.core.app_settings import AppSettings
from kubeward.core.feed import publish_event
from kubeward.core.mongo import Document
from kubeward.integrations import llm
from kubeward.kube.client import KubeClient, is_not_found
from kubeward.mirror import manifests
from kubeward.mirror.admin_settings import llm_config, mirror_ttl_seconds
from kubeward.mirror.mirror_pods import list_mirror_pods, mirror_id_of
from kubeward.mirror.pod_state import DELETED, pod_status
from kubeward.mirror.status_watch import record_status
from kubeward.mirror.store import CREATING, MirrorStore, now
from kubeward.schemas import bus
from kubeward.schemas.mirror import (
    KUBE_NOT_AVAILABLE,
    MIRROR_ID_LABEL,
    MIRROR_LABEL,
    NOT_FOUND,
    TTL_MAX,
    TTL_MIN,
    Active,
    Delete,
    Deploy,
    MirrorCommand,
    MirrorContainer,
    MirrorEvent,
    MirrorInfo,
    MirrorPreview,
    MirrorStatus,
    Preview,
)
from kubeward.schemas.pod_failures import GetFailure, PodFailure
from kubeward.schemas.replies import Reply, error

log = logging.getLogger(__name__)

FAILURE_NOT_FOUND = "Pod failure not found"
_reply = msgspec.json.Decoder(Reply)
_failure = msgspec.json.Decoder(PodFailure)
SYSTEM = (
    "You fix failed Kubernetes pods. Answer with the corrected Pod manifest in one ```yaml "
    "block (a single v1 Pod), then a short Markdown explanation under '## Changes Made'. "
    "Never add privileged mode, hostPath, host namespaces or capabilities."
)


def _body(value: object) -> msgspec.Raw:
    return msgspec.Raw(msgspec.json.encode(value))


def iso(t: datetime) -> str:
    """``2026-03-26T10:30:00Z``."""
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def mirror_name(pod_name: str, mirror_id: str) -> str:
    """``<name>-mirror-<id>``, the name shortened so the whole stays within 63 characters."""
    suffix = f"-mirror-{mirror_id}"
    return pod_name[: 63 - len(suffix)].rstrip("-.") + suffix


def info_of(doc: Document) -> MirrorInfo:
    """A record as the API returns it."""
    return MirrorInfo(
        mirror_id=doc["_id"],
        mirror_pod_name=doc["mirror_pod_name"],
        namespace=doc["namespace"],
        status=doc["status"],
        ttl_seconds=doc["ttl_seconds"],
        created_at=iso(doc["created_at"]),
        fixed_manifest=doc["fixed_manifest"],
        explanation=doc["explanation"],
        pod_id=doc.get("pod_id"),
        expires_at=iso(doc["expires_at"]),
    )


class Commands:
    """The mirror service's behaviour; ``kube`` is ``None`` without a cluster."""

    def __init__(
        self,
        nc: NATS,
        js: JetStreamContext,
        store: MirrorStore,
        app_settings: AppSettings,
        kube: KubeClient | None,
        *,
        owner: str,
        claim_seconds: float,
        llm_timeout: float,
        request_timeout: float,
        logs_tail_lines: int,
    ) -> None:
        self._nc = nc
        self._js = js
        self._store = store
        self._settings = app_settings
        self.kube = kube
        self.owner = owner
        self._claim = claim_seconds
        self._llm_timeout = llm_timeout
        self._request_timeout = request_timeout
        self._tail = logs_tail_lines

    async def command(self, command: MirrorCommand) -> Reply:
        """Dispatch one command."""
        if isinstance(command, Preview):
            return await self._preview(command.pod_id)
        if isinstance(command, Active):
            docs = await self._store.active()
            return Reply(body=_body([info_of(d) for d in docs]), count=len(docs))
        if self.kube is None:
            return error(503, KUBE_NOT_AVAILABLE)
        if isinstance(command, Deploy):
            return await self._deploy(command, self.kube)
        if isinstance(command, Delete):
            return await self._delete(command.mirror_id, self.kube)
        return await self._status(command.mirror_id, self.kube)

    # --- preview -----------------------------------------------------------------

    async def _failure(self, pod_id: int) -> PodFailure | Reply:
        data = await self._nc.request(
            bus.RPC_FAILURES_COMMAND,
            msgspec.json.encode(GetFailure(id=pod_id)),
            timeout=self._request_timeout,
        )
        reply = _reply.decode(data.data)
        if not reply.ok:
            return reply
        return _failure.decode(bytes(reply.body))

    async def _fix(self, failure: PodFailure) -> tuple[dict[str, Any], dict[str, Any], str, bool]:
        """(original stripped, fixed, explanation, is_fallback) — or raises ManifestError."""
        if not failure.manifest.strip():
            raise manifests.ManifestError("The failure record holds no pod manifest")
        original = manifests.strip_runtime(manifests.load_pod(failure.manifest))
        config = llm_config(self._settings)
        if config is not None:
            prompt = (
                f"Pod {failure.namespace}/{failure.pod_name} failed: {failure.failure_reason}: "
                f"{failure.failure_message or ''}\n\nDiagnosis:\n{failure.solution}\n\n"
                f"Logs (tail):\n{failure.logs[-2000:]}\n\nManifest:\n```yaml\n"
                f"{manifests.dump(original)}```"
            )
            try:
                answer = await llm.complete(config, SYSTEM, prompt, timeout=self._llm_timeout)
                pod, explanation = manifests.from_llm(answer.text)
                fixed = manifests.strip_runtime(pod)
                if manifests.escalation(original, fixed) is None:
                    return original, fixed, explanation, False
                log.warning("LLM fix asked for more host access; using the offline fix")
            except (llm.LLMError, manifests.ManifestError) as exc:
                log.warning("LLM fix unusable, using the offline fix: %s", exc)
        fixed, explanation = manifests.offline_fix(original, failure)
        return original, fixed, explanation, True

    async def _preview(self, pod_id: int) -> Reply:
        failure = await self._failure(pod_id)
        if isinstance(failure, Reply):
            return failure
        try:
            _, fixed, explanation, fallback = await self._fix(failure)
        except manifests.ManifestError as exc:
            return error(400, str(exc))
        preview = MirrorPreview(
            fixed_manifest=manifests.dump(fixed), explanation=explanation, is_fallback=fallback
        )
        return Reply(body=_body(preview))

    # --- deploy ------------------------------------------------------------------

    async def _deploy(self, command: Deploy, kube: KubeClient) -> Reply:
        ttl = command.ttl_seconds
        if ttl is None:
            ttl = mirror_ttl_seconds(self._settings)
        if not TTL_MIN <= ttl <= TTL_MAX:
            return error(400, f"ttl_seconds must be between {TTL_MIN} and {TTL_MAX}")
        if command.request_id:
            digest = hashlib.blake2b(
                f"{command.pod_id}/{command.request_id}".encode(), digest_size=4
            )
            mirror_id = digest.hexdigest()
            existing = await self._store.get(mirror_id)
            if existing is not None:
                return Reply(status=200, body=_body(info_of(existing)))
        else:
            mirror_id = secrets.token_hex(4)
        failure = await self._failure(command.pod_id)
        if isinstance(failure, Reply):
            return failure
        try:
            original, fixed, explanation, _ = await self._fix(failure)
            if command.manifest is not None:
                fixed = manifests.strip_runtime(manifests.load_pod(command.manifest))
                explanation = "Manifest supplied by the user."
        except manifests.ManifestError as exc:
            return error(400, str(exc))
        ns = fixed["metadata"].get("namespace") or failure.namespace
        if ns != failure.namespace:
            return error(
                400, f"The manifest must be in the failed pod's namespace {failure.namespace}"
            )
        reason = manifests.escalation(original, fixed)
        if reason is not None:
            return error(403, reason)
        name = mirror_name(str(original["metadata"].get("name") or failure.pod_name), mirror_id)
        body = manifests.strip_runtime(fixed)
        meta = body["metadata"]
        meta.update(name=name, namespace=ns)
        # Only kubeward's labels: the original's would put the mirror behind its Services.
        meta["labels"] = {MIRROR_LABEL: "true", MIRROR_ID_LABEL: mirror_id}
        body["spec"]["restartPolicy"] = "Never"
        t = now()
        doc: Document = {
            "_id": mirror_id,
            "pod_id": command.pod_id,
            "namespace": ns,
            "mirror_pod_name": name,
            "ttl_seconds": ttl,
            "created_at": t,
            "expires_at": t + timedelta(seconds=ttl),
            "fixed_manifest": manifests.dump(fixed),
            "explanation": explanation,
            "status": CREATING,
            "deleted_at": None,
            "claimed_by": self.owner,  # held while the pod is being created
            "claim_until": t + timedelta(seconds=self._claim),
            "created_by": command.actor,
        }
        if await self._store.insert(doc) is None:  # the same request, answered meanwhile
            existing = await self._store.get(mirror_id)
            assert existing is not None
            return Reply(body=_body(info_of(existing)))
        try:
            await kube.raw(kube.core.create_namespaced_pod, ns, body)
        except Exception as exc:
            log.warning("creating mirror pod %s/%s failed: %s", ns, name, exc)
            await self._store.remove(mirror_id, self.owner)
            return error(502, f"Creating the mirror pod failed: {exc}")
        await self._store.set_fields(
            mirror_id, {"status": "Pending", "claimed_by": None, "claim_until": None}
        )
        doc.update(status="Pending")
        info = info_of(doc)
        await publish_event(self._js, "mirror_created", info, msg_id=f"mirror-created-{mirror_id}")
        return Reply(status=201, body=_body(info))

    # --- status ------------------------------------------------------------------

    async def _status(self, mirror_id: str, kube: KubeClient) -> Reply:
        doc = await self._store.get(mirror_id)
        if doc is None or doc.get("deleted_at") is not None:
            return error(404, NOT_FOUND)
        ns, name = doc["namespace"], doc["mirror_pod_name"]
        try:
            raw = await kube.raw(kube.core.read_namespaced_pod, name, ns)
        except Exception as exc:
            if not is_not_found(exc):
                return error(502, f"Reading the mirror pod failed: {exc}")
            pod: dict[str, Any] = {}
            phase = DELETED
        else:
            pod = msgspec.json.decode(raw)
            phase = pod_status(pod)
        containers = [
            _container(c) for c in (pod.get("status") or {}).get("containerStatuses") or []
        ]
        events: list[MirrorEvent] = []
        logs = ""
        if pod:
            events = await self._events(kube, ns, name)
            try:
                logs = (
                    await kube.raw(
                        kube.core.read_namespaced_pod_log, name, ns, tail_lines=self._tail
                    )
                ).decode(errors="replace")
            except Exception as exc:  # no logs yet (container not started) is normal
                log.debug("no logs for %s/%s: %s", ns, name, exc)
        seen = pod or {"metadata": {"name": name, "namespace": ns}}
        await record_status(self._store, self._js, seen, mirror_id=mirror_id, status=phase)
        status = MirrorStatus(
            mirror_id=mirror_id,
            mirror_pod_name=name,
            namespace=ns,
            status=phase,
            ttl_seconds=doc["ttl_seconds"],
            created_at=iso(doc["created_at"]),
            expires_at=iso(doc["expires_at"]),
            containers=containers,
            events=events,
            logs=logs,
        )
        return Reply(body=_body(status))

    async def _events(self, kube: KubeClient, ns: str, name: str) -> list[MirrorEvent]:
        try:
            raw = await kube.raw(
                kube.core.list_namespaced_event,
                ns,
                field_selector=f"involvedObject.name={name}",
            )
        except Exception as exc:
            log.debug("no events for %s/%s: %s", ns, name, exc)
            return []
        items = msgspec.json.decode(raw).get("items") or []
        found = [
            MirrorEvent(
                type=e.get("type"),
                reason=e.get("reason"),
                message=e.get("message"),
                timestamp=e.get("lastTimestamp") or e.get("eventTime"),
            )
            for e in items
            if (e.get("involvedObject") or {}).get("name") == name  # selectors may be ignored
        ]
        return found[-20:]

    # --- delete and reap ---------------------------------------------------------

    async def _delete(self, mirror_id: str, kube: KubeClient) -> Reply:
        doc = await self._store.claim(mirror_id, self.owner, self._claim, expired_only=False)
        if doc is None:
            known = await self._store.get(mirror_id)
            if known is None or known.get("deleted_at") is not None:
                return error(404, NOT_FOUND)
            return error(409, "Mirror is being created or deleted; try again shortly")
        await self.remove(doc, kube, "deleted")
        return Reply(body=_body({"message": "Mirror pod deleted", "mirror_id": mirror_id}))

    async def remove(self, doc: Document, kube: KubeClient, reason: str) -> None:
        """Delete a claimed mirror's pod (absent is fine) and its record; announce it."""
        ns, name = doc["namespace"], doc["mirror_pod_name"]
        try:
            await kube.raw(kube.core.delete_namespaced_pod, name, ns, grace_period_seconds=0)
        except Exception as exc:
            if not is_not_found(exc):
                raise
        if await self._store.remove(doc["_id"], self.owner):
            await publish_event(
                self._js,
                "mirror_deleted",
                {
                    "mirror_id": doc["_id"],
                    "mirror_pod_name": name,
                    "namespace": ns,
                    "reason": reason,
                },
                msg_id=f"mirror-deleted-{doc['_id']}",
            )

    async def reap(self) -> int:
        """Delete every expired mirror this replica can claim; how many it deleted."""
        kube = self.kube
        if kube is None:
            return 0
        done = 0
        while doc := await self._store.claim(None, self.owner, self._claim, expired_only=True):
            try:
                await self.remove(doc, kube, "expired")
            except Exception:
                log.exception("reaping mirror %s failed; its claim will lapse", doc["_id"])
                break
            done += 1
        return done

    async def reap_orphans(self) -> int:
        """Delete pods labelled as kubeward mirrors that have no record."""
        kube = self.kube
        if kube is None:
            return 0
        pods, _ = await list_mirror_pods(kube)
        ids = [mirror_id_of(p) or "" for p in pods]
        known = await self._store.known_ids(ids)
        done = 0
        for pod, mirror_id in zip(pods, ids, strict=True):
            meta = pod["metadata"]
            if mirror_id in known or not meta.get("namespace") or not meta.get("name"):
                continue
            try:
                await kube.raw(
                    kube.core.delete_namespaced_pod,
                    meta["name"],
                    meta["namespace"],
                    grace_period_seconds=0,
                )
            except Exception as exc:
                if not is_not_found(exc):
                    raise
            done += 1
            await publish_event(
                self._js,
                "mirror_deleted",
                {
                    "mirror_id": mirror_id,
                    "mirror_pod_name": meta["name"],
                    "namespace": meta["namespace"],
                    "reason": "orphan",
                },
            )
        return done


def _container(c: dict[str, Any]) -> MirrorContainer:
    state = c.get("state") or {}
    kind = next(iter(state), "unknown")
    detail = state.get(kind) or {}
    return MirrorContainer(
        name=str(c.get("name", "")),
        ready=bool(c.get("ready")),
        restart_count=int(c.get("restartCount") or 0),
        state=kind,
        reason=detail.get("reason"),
        message=detail.get("message"),
        exit_code=detail.get("exitCode"),
    )
