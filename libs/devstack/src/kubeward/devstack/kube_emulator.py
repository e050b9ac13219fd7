"""kmock's Kubernetes API emulator, set up for kubeward's tests and benchmarks.

No real API server can be installed on the development machines; the official client runs
against kmock's ``KubernetesEmulator`` instead. This module holds what every user of the
emulator needs: a kubeconfig pointing at it and a fix for one path kmock cannot parse.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kmock._internal import parsing  # private: kmock has no public hook for its parser


def kubeconfig(server: str) -> dict[str, Any]:
    """A kubeconfig for ``server`` with a dummy token (the emulator checks none)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kmock", "cluster": {"server": server}}],
        "users": [{"name": "kmock", "user": {"token": "kmock-token"}}],
        "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "kmock"}}],
        "current-context": "kmock",
    }


def write_kubeconfig(path: Path, server: str) -> Path:
    """Write :func:`kubeconfig` to ``path`` (JSON is YAML: the client reads either)."""
    path.write_text(json.dumps(kubeconfig(server)))
    return path


def parse_namespace_list(
    original: Callable[[str], parsing.ParsedPath],
) -> Callable[[str], parsing.ParsedPath]:
    """kmock's path parser, able to parse ``GET /api/v1/namespaces`` (the Namespace list).

    kmock reads ``namespaces`` as the start of ``namespaces/{ns}/...`` and raises on the bare
    list path before any reaction or stored object is consulted: every such request was a
    500. With this, the emulator serves the Namespace objects it holds, or its usual 404 for
    a resource it holds none of. Install with ``parsing.parse_path = parse_namespace_list(
    parsing.parse_path)`` (tests: ``monkeypatch``).
    """

    def parse_path(path: str) -> parsing.ParsedPath:
        if path.strip("/") == "api/v1/namespaces":
            return parsing.ParsedPath(group="", version="v1", plural="namespaces")
        return original(path)

    return parse_path
