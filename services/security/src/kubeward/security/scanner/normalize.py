"""snake_case → camelCase: objects from the Python client's ``to_dict()`` (the Kure agent).

Only keys change; label and annotation keys, ``data`` keys and other user-chosen map keys
are kept as they are. An object that is already camelCase is returned as is (no copy).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The Python client's attribute names that are not plain snake_case of the JSON names.
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
    "_from": "from",
    "_continue": "continue",
    "_except": "except",
}

# Maps whose keys are data, not field names.
_OPAQUE = frozenset(
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
        # Never read by a check, and large on live objects: not walked.
        "status",
        "managedFields",
    }
)
_SELECTOR_FIELDS = frozenset(
    {"matchLabels", "matchExpressions", "match_labels", "match_expressions"}
)

_SCALARS = frozenset({str, int, float, bool, type(None)})

_cache: dict[str, str] = dict(_SPECIAL)
_CACHE_MAX = 4096


def camel(key: str) -> str:
    """The camelCase JSON name of a Python-client attribute name."""
    found = _cache.get(key)
    if found is not None:
        return found
    head, *rest = key.split("_")
    result = head + "".join(part[:1].upper() + part[1:] for part in rest)
    if len(_cache) < _CACHE_MAX:
        _cache[key] = result
    return result


def normalize(value: Any) -> Any:
    """``value`` with every field name in camelCase; the same object if nothing changes.

    Non-dict mappings become dicts.
    """
    if isinstance(value, dict):
        return _map(value)
    if isinstance(value, list):
        return _seq(value)
    if isinstance(value, Mapping):
        return _map(dict(value))
    return value


def _map(obj: dict[str, Any]) -> dict[str, Any]:
    changed: dict[str, Any] | None = None
    for i, (key, val) in enumerate(obj.items()):
        new_key = camel(key) if isinstance(key, str) and "_" in key else key
        if (
            new_key in _OPAQUE
            or (
                new_key == "selector"
                and isinstance(val, dict)
                and not _SELECTOR_FIELDS & val.keys()
            )
            or type(val) in _SCALARS
        ):
            new_val = val
        else:
            new_val = normalize(val)
        if changed is None and (new_key is not key or new_val is not val):
            changed = dict(list(obj.items())[:i])
        if changed is not None:
            changed[new_key] = new_val
    return obj if changed is None else changed


def _seq(items: list[Any]) -> list[Any]:
    changed: list[Any] | None = None
    for i, item in enumerate(items):
        new = item if type(item) in _SCALARS else normalize(item)
        if changed is None and new is not item:
            changed = items[:i]
        if changed is not None:
            changed.append(new)
    return items if changed is None else changed
