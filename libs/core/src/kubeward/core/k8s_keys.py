"""snake_case → camelCase field names of Kubernetes objects.

The Kure agent sends objects as the official Python client's ``to_dict()`` writes them
(``security_context``, ``host_pid``, ``_exec``); kubectl and the API write camelCase. Every
service that reads manifests rewrites them to camelCase once, here, and reads one form.

Only field names change. Maps whose keys are data (labels, annotations, ConfigMap data,
resource quantities, a Service's selector) keep their keys. An object that is already
camelCase comes back as the same object (no copy).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

# The Python client's attribute names that are not the plain snake_case of the JSON names.
_SPECIAL = {
    "host_ipc": "hostIPC",
    "host_pid": "hostPID",
    "host_ip": "hostIP",
    "host_i_ps": "hostIPs",
    "pod_ip": "podIP",
    "pod_i_ps": "podIPs",
    "cluster_ip": "clusterIP",
    "cluster_i_ps": "clusterIPs",
    "external_i_ps": "externalIPs",
    "load_balancer_ip": "loadBalancerIP",
    "non_resource_ur_ls": "nonResourceURLs",
    "image_id": "imageID",
    "container_id": "containerID",
    # Older agents wrote these joined without the client's split of "IPs".
    "pod_ips": "podIPs",
    "host_ips": "hostIPs",
}

DATA_MAPS = frozenset(
    {
        "labels",
        "annotations",
        "matchLabels",
        "nodeSelector",
        "data",
        "stringData",
        "binaryData",
        "limits",
        "requests",
        "capacity",
        "allocatable",
        "parameters",
    }
)
"""Maps whose keys are user data, never rewritten."""

_SELECTOR_FIELDS = frozenset(
    {"matchLabels", "matchExpressions", "match_labels", "match_expressions"}
)
_SCALARS = frozenset({str, int, float, bool, type(None)})


@lru_cache(maxsize=4096)
def camel(key: str) -> str:
    """The camelCase JSON name of a Python-client attribute name (``_exec`` → ``exec``)."""
    special = _SPECIAL.get(key)
    if special is not None:
        return special
    stripped = key.lstrip("_")
    if "_" not in stripped:
        return stripped or key
    head, *rest = stripped.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


MAX_DEPTH = 100
"""Deepest nesting of a parsed manifest we accept. Real Kubernetes objects stay under ~30
levels; a hostile one nested thousands deep would exhaust the recursion limit of every
recursive walk over it (RecursionError), and of the parsers before that."""


class NestedTooDeeplyError(ValueError):
    """A value nested deeper than :data:`MAX_DEPTH` levels."""


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Raise :class:`NestedTooDeeplyError` when dicts and lists in ``value`` nest deeper than
    ``limit`` levels; iterative, so it cannot itself run out of stack."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise NestedTooDeeplyError(f"nested deeper than {limit} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, dict | list))


def normalize(value: Any, keep: frozenset[str] = DATA_MAPS) -> Any:
    """``value`` with every field name in camelCase; the same object if nothing changes.

    ``keep`` names the fields whose values are left as they are (their keys are data, or
    the caller never reads them). Non-dict mappings become dicts. A value nested deeper
    than :data:`MAX_DEPTH` raises :class:`NestedTooDeeplyError` (a ``ValueError``).
    """
    check_depth(value)
    return _normalize(value, keep)


def _normalize(value: Any, keep: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return _map(value, keep)
    if isinstance(value, list):
        return _seq(value, keep)
    if isinstance(value, Mapping):
        return _map(dict(value), keep)
    return value


def _map(obj: dict[str, Any], keep: frozenset[str]) -> dict[str, Any]:
    changed: dict[str, Any] | None = None
    for i, (key, val) in enumerate(obj.items()):
        new_key = camel(key) if isinstance(key, str) and "_" in key else key
        if (
            new_key in keep
            or type(val) in _SCALARS
            or (
                # A Service's selector is a label map; a workload's has matchLabels.
                new_key == "selector"
                and isinstance(val, dict)
                and not _SELECTOR_FIELDS & val.keys()
            )
        ):
            new_val = val
        else:
            new_val = _normalize(val, keep)
        if changed is None and (new_key is not key or new_val is not val):
            changed = dict(list(obj.items())[:i])
        if changed is not None:
            changed[new_key] = new_val
    return obj if changed is None else changed


def _seq(items: list[Any], keep: frozenset[str]) -> list[Any]:
    changed: list[Any] | None = None
    for i, item in enumerate(items):
        new = item if type(item) in _SCALARS else _normalize(item, keep)
        if changed is None and new is not item:
            changed = items[:i]
        if changed is not None:
            changed.append(new)
    return items if changed is None else changed
