"""Mirror test fixtures: a kubeconfig pointing the official client at kmock's emulator."""

from __future__ import annotations

import json
from pathlib import Path

import kmock
import pytest


@pytest.fixture
def kmock_kubeconfig(kmock: kmock.KubernetesEmulator, tmp_path: Path) -> str:
    """A kubeconfig file for this test's kmock emulator (a free loopback port)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kmock", "cluster": {"server": str(kmock.url)}}],
        "users": [{"name": "kmock", "user": {"token": "kmock-token"}}],
        "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "kmock"}}],
        "current-context": "kmock",
    }
    path = tmp_path / "kubeconfig.json"
    path.write_text(json.dumps(config))
    return str(path)
