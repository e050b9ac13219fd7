"""Volume mount failures: missing Secret/ConfigMap/PVC, missing keys, Multi-Attach, timeouts."""

from __future__ import annotations

import re

from kubeward.failure_analyzer.analyzers.base import (
    code,
    events_cmd,
    from_message,
    kubectl,
    make,
    rollout_checks,
)
from kubeward.failure_analyzer.findings import Finding
from kubeward.failure_analyzer.report_view import MessageHit, ReportView, as_dict, as_str

_MOUNT_EVENTS = ("FailedMount", "FailedAttachVolume", "FailedScheduling", "FailedMapVolume")
_MISSING = re.compile(
    r"(?:volume \"(?P<volume>[^\"]+)\" : )?(?P<kind>secret|configmap) "
    r"\"(?P<name>[^\"]+)\" not found"
)
_PVC = re.compile(r"persistentvolumeclaim \"(?P<name>[^\"]+)\" not found", re.I)
_MISSING_KEY = re.compile(
    r"(?:volume \"(?P<volume>[^\"]+)\" : )?(?P<kind>configmap|secret) references non-existent "
    r"(?:config|secret) key: (?P<key>\S+)"
)
_MULTI_ATTACH = re.compile(r"Multi-Attach error for volume \"(?P<volume>[^\"]+)\"")
_TIMEOUT = re.compile(
    r"Unable to (?:attach or )?mount volumes: unmounted volumes=\[(?P<volumes>[^\]]*)\]"
)
_GENERIC = re.compile(
    r"(?:MountVolume\.\w+|AttachVolume\.Attach|MapVolume\.\w+) failed for volume "
    r"\"(?P<volume>[^\"]+)\"(?: : )?(?P<detail>.*)",
    re.S,
)


def _find(view: ReportView, pattern: re.Pattern[str]) -> MessageHit | None:
    return view.find_message(pattern, events=_MOUNT_EVENTS)


def _volume_source(view: ReportView, volume: str | None) -> str:
    for item in view.volumes:
        if item.get("name") == volume:
            for key in item:
                if key != "name":
                    return key
    return "volume"


def _users(view: ReportView, volume: str | None) -> list[str]:
    return [
        c.name
        for c in (*view.init_containers, *view.containers)
        if any(m.get("name") == volume for m in c.volume_mounts)
    ]


def analyze_missing_object(view: ReportView) -> Finding | None:
    """A volume refers to a Secret or ConfigMap that does not exist."""
    hit = _find(view, _MISSING)
    if hit is None or not (hit.source != "event" or "MountVolume" in hit.text):
        return None
    kind, name, volume = hit.match.group("kind"), hit.match.group("name"), hit.match["volume"]
    label = "Secret" if kind == "secret" else "ConfigMap"
    users = _users(view, volume)
    create = (
        f"kubectl -n {view.namespace} create secret generic {name} --from-literal=<key>=<value>"
        if kind == "secret"
        else f"kubectl -n {view.namespace} create configmap {name} --from-file=<file>"
    )
    return make(
        f"mount.{kind}-not-found",
        f"{label} {name} not found (volume {volume or '?'})",
        f"Volume {code(volume or '?')}"
        + (f" (mounted by {', '.join(map(code, users))})" if users else "")
        + f" needs the {label} {code(name)} in namespace {code(view.namespace)}, which does "
        "not exist, so the kubelet cannot set the volume up and the containers never start.",
        (
            f"Create the {label} in {code(view.namespace)} (or fix the name in the volume):"
            f"\n```bash\n{create}\n```",
            "If it is created by another tool (Helm, an operator, external-secrets, "
            "cert-manager), check that tool; mark the volume `optional: true` only if the "
            "app can run without it.",
        ),
        (kubectl(view, f"get {kind} {name}"), *rollout_checks(view), events_cmd(view)),
        (from_message(hit),),
        0.96,
    )


def analyze_missing_pvc(view: ReportView) -> Finding | None:
    """The pod uses a PersistentVolumeClaim that does not exist."""
    hit = _find(view, _PVC)
    if hit is None:
        return None
    name = hit.match.group("name")
    return make(
        "mount.pvc-not-found",
        f"PersistentVolumeClaim {name} not found",
        f"The pod mounts the PersistentVolumeClaim {code(name)}, which does not exist in "
        f"namespace {code(view.namespace)}, so it cannot be scheduled or started.",
        (
            f"Create the claim (or fix `claimName`):\n```yaml\napiVersion: v1\nkind: "
            f"PersistentVolumeClaim\nmetadata:\n  name: {name}\n  namespace: {view.namespace}"
            "\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n"
            "      storage: 10Gi\n```",
            "For a StatefulSet, claims come from `volumeClaimTemplates`: check the "
            "template's name matches the volume mount.",
        ),
        (kubectl(view, f"get pvc {name}"), *rollout_checks(view), events_cmd(view)),
        (from_message(hit),),
        0.95,
    )


def analyze_missing_key(view: ReportView) -> Finding | None:
    """A volume's ``items`` name a key its ConfigMap/Secret does not have."""
    hit = _find(view, _MISSING_KEY)
    if hit is None:
        return None
    kind, key, volume = hit.match.group("kind"), hit.match.group("key"), hit.match["volume"]
    source = next(
        (
            as_dict(v.get(kind if kind == "secret" else "configMap"))
            for v in view.volumes
            if v.get("name") == volume
        ),
        {},
    )
    obj = as_str(source.get("name")) or as_str(source.get("secretName")) or "<name>"
    return make(
        f"mount.{kind}-key-not-found",
        f"Key {key} missing in {kind} {obj} (volume {volume or '?'})",
        f"Volume {code(volume or '?')} projects the key {code(key)} of {kind} {code(obj)} "
        "(`items`), but the object has no such key.",
        (
            f"Add the key: `kubectl -n {view.namespace} edit {kind} {obj}` (or recreate it "
            f"with `--from-file={key}=<file>`).",
            "Or fix the volume's `items[].key` to a key that exists.",
        ),
        (kubectl(view, f"get {kind} {obj} -o jsonpath='{{.data}}'"), events_cmd(view)),
        (from_message(hit),),
        0.94,
    )


def analyze_multi_attach(view: ReportView) -> Finding | None:
    """A ReadWriteOnce volume is still attached to another node."""
    hit = _find(view, _MULTI_ATTACH)
    if hit is None:
        return None
    volume = hit.match.group("volume")
    return make(
        "mount.multi-attach",
        f"Volume {volume} is attached to another node (Multi-Attach)",
        f"The volume {code(volume)} is ReadWriteOnce and still attached to another node "
        "(usually by the previous pod of this workload during a rolling update, or a node "
        "that died without detaching), so it cannot attach to "
        f"{code(view.node_name or 'this node')}.",
        (
            "For Deployments with an RWO volume use `strategy: Recreate` so the old pod "
            "releases the volume first (or use a StatefulSet).",
            f"Find the holder and delete the stale pod / VolumeAttachment:\n```bash\n"
            f"kubectl get volumeattachment | grep {volume}\n```",
            "Use a ReadWriteMany storage class if several pods must share it.",
        ),
        (
            f"kubectl get volumeattachment | grep {volume}",
            *rollout_checks(view),
            events_cmd(view),
        ),
        (from_message(hit),),
        0.93,
    )


def analyze_mount_failed(view: ReportView) -> Finding | None:
    """Other MountVolume/AttachVolume failures and mount timeouts."""
    if any(_find(view, p) for p in (_MISSING, _PVC, _MISSING_KEY, _MULTI_ATTACH)):
        return None
    hit = _find(view, _GENERIC) or _find(view, _TIMEOUT)
    if hit is None:
        return None
    groups = hit.match.groupdict()
    volume = groups.get("volume") or (groups.get("volumes") or "?").split(",")[0].strip()
    detail = (groups.get("detail") or "").strip()
    source = _volume_source(view, volume)
    timed_out = "timed out" in hit.text or detail == ""
    cause = f"Volume {code(volume)} ({source}) could not be mounted" + (
        f": {code(detail[:160])}." if detail else " before the kubelet timed out."
    )
    if source in ("nfs", "csi", "persistentVolumeClaim") or timed_out:
        cause += (
            " For network and CSI volumes this means the storage backend or its driver "
            "pods did not respond (server unreachable, CSI node plugin down, missing "
            "mount helper like `nfs-common` on the node)."
        )
    return make(
        "mount.failed",
        f"Volume {volume} cannot be mounted",
        cause,
        (
            f"Read the full mount error: `{events_cmd(view)}`.",
            "Check the storage driver pods on the node (`kubectl -n kube-system get pods -o "
            f"wide | grep {view.node_name or 'csi'}`) and the backend's reachability.",
            "Check the volume definition (server/path/secret) in the pod spec.",
        ),
        (*rollout_checks(view), events_cmd(view)),
        (from_message(hit),),
        0.8,
    )
