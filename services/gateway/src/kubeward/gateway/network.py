"""Network intelligence: least-privilege policies from observed flows, a would-deny audit
of given policies, and seccomp profiles from observed syscalls (answered by traffic-store).

The YAML is read and written here, at the edge; traffic-store works on JSON objects.
"""

from __future__ import annotations

from typing import Any

import msgspec
import yaml
from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ClientException
from litestar.params import FromPath, FromQuery, JSONBody

from kubeward.gateway.buslink import BusLink
from kubeward.gateway.errors import json_reply, reply_response
from kubeward.gateway.params import iso_time
from kubeward.gateway.responses import PolicySuggestion, PolicyVerdict, SeccompProfile, declare
from kubeward.schemas import bus
from kubeward.schemas.network import (
    WORKLOAD_KINDS,
    CidrMode,
    PolicyAuditRequest,
    PolicyFormat,
    PolicySuggestQuery,
    SeccompQuery,
)

READ = {"role": "read"}
UNAVAILABLE = "Traffic store is not available"
_FORMATS: dict[str, PolicyFormat] = {"kubernetes": "kubernetes", "cilium": "cilium"}
_KINDS = {kind.lower(): kind for kind in WORKLOAD_KINDS}
_CIDR_MODES: dict[str, CidrMode] = {"exact": "exact", "cover": "cover"}


class AuditBody(msgspec.Struct, kw_only=True):
    """``POST /api/network/audit``: policies as YAML and an optional time window."""

    policy: str
    """One or more NetworkPolicy / CiliumNetworkPolicy documents (``---`` separated, or a
    ``kind: List``)."""
    since: str | None = None
    until: str | None = None


def policy_objects(text: str) -> list[dict[str, Any]]:
    """The objects of a YAML stream; ``ClientException`` (400) naming what is wrong."""
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ClientException(detail=f"policy: not valid YAML: {exc}") from None
    objects: list[dict[str, Any]] = []
    for document in documents:
        items = document.get("items") if isinstance(document, dict) else None
        if isinstance(document, dict) and document.get("kind") == "List":
            documents_in = items if isinstance(items, list) else []
        else:
            documents_in = [document]
        for obj in documents_in:
            if not isinstance(obj, dict):
                raise ClientException(detail="policy: every YAML document must be an object")
            objects.append(obj)
    if not objects:
        raise ClientException(detail="policy: no NetworkPolicy or CiliumNetworkPolicy given")
    return objects


def policies_yaml(policies: list[Any]) -> str:
    """Multi-document YAML of ``policies``, in order."""
    return yaml.safe_dump_all(policies, sort_keys=False, default_flow_style=False)


class NetworkController(Controller):
    """``/api/network/*`` and ``/api/seccomp/*``."""

    path = "/api"
    tags = ["network intelligence"]

    @get(
        "/network/policy",
        opt=READ,
        summary="Least-privilege NetworkPolicies from observed flows",
        description="One policy per workload of the namespace with ALLOW flows (or the one "
        "named by kind and name), as JSON objects and as multi-document YAML.",
        responses=declare(PolicySuggestion, "The policies"),
    )
    async def suggest(
        self,
        link: NamedDependency[BusLink],
        namespace: FromQuery[str],
        kind: FromQuery[str | None] = None,
        name: FromQuery[str | None] = None,
        format: FromQuery[str] = "kubernetes",
        since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None,
        cidr: FromQuery[str] = "exact",
    ) -> Response[Any]:
        """``{"policies", "yaml", "flows_used", "unresolved"}``; ``cidr=cover`` puts the
        outside addresses of a direction in one rule on the smallest CIDR covering them."""
        if not namespace.strip():
            raise ClientException(detail="namespace: required")
        fmt = _FORMATS.get(format.lower())
        if fmt is None:
            raise ClientException(detail=f"format: {format!r} is not kubernetes or cilium")
        cidr_mode = _CIDR_MODES.get(cidr.lower())
        if cidr_mode is None:
            raise ClientException(detail=f"cidr: {cidr!r} is not exact or cover")
        if (kind is None) != (name is None):
            raise ClientException(detail="kind and name: give both, or neither")
        workload_kind = None
        if kind is not None:
            workload_kind = _KINDS.get(kind.lower())
            if workload_kind is None:
                raise ClientException(
                    detail=f"kind: {kind!r} is not one of {', '.join(sorted(WORKLOAD_KINDS))}"
                )
        query = PolicySuggestQuery(
            namespace=namespace,
            kind=workload_kind,
            name=name,
            format=fmt,
            cidr=cidr_mode,
            since=iso_time("since", since),
            until=iso_time("until", until),
        )
        reply = await link.ask(bus.RPC_NETWORK_POLICY, msgspec.json.encode(query), UNAVAILABLE)
        if not reply.ok:
            return reply_response(reply)
        answer = msgspec.json.decode(reply.body)
        body = {
            "policies": answer["policies"],
            "yaml": policies_yaml(answer["policies"]),
            "flows_used": answer["flows_used"],
            "unresolved": answer["unresolved"],
        }
        return Response(content=msgspec.json.encode(body), media_type="application/json")

    @post(
        "/network/audit",
        status_code=200,
        opt=READ,
        summary="Observed flows the given policies would block",
        description="Kubernetes NetworkPolicy semantics (CiliumNetworkPolicy read with the "
        "same meaning); each ALLOW flow of the policies' namespaces in the window is judged "
        "on the side that observed it.",
        responses=declare(PolicyVerdict, "The verdict"),
    )
    async def audit(
        self, link: NamedDependency[BusLink], data: JSONBody[AuditBody]
    ) -> Response[Any]:
        """``{"evaluated", "would_allow", "would_deny": [...]}``."""
        request = PolicyAuditRequest(
            policies=policy_objects(data.policy),
            since=iso_time("since", data.since),
            until=iso_time("until", data.until),
        )
        reply = await link.ask(bus.RPC_NETWORK_AUDIT, msgspec.json.encode(request), UNAVAILABLE)
        return json_reply(reply)

    @get(
        "/seccomp/{namespace:str}/{pod:str}",
        opt=READ,
        summary="OCI seccomp profile from a pod's observed syscalls",
        responses=declare(SeccompProfile, "The profile"),
    )
    async def seccomp(
        self, link: NamedDependency[BusLink], namespace: FromPath[str], pod: FromPath[str]
    ) -> Response[Any]:
        """Deny by default, allow what the pod was seen calling; 404 when nothing was."""
        query = SeccompQuery(namespace=namespace, pod=pod)
        reply = await link.ask(bus.RPC_SECCOMP, msgspec.json.encode(query), UNAVAILABLE)
        return json_reply(reply)
