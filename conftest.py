"""Registers the shared fixtures (real NATS, MongoDB wire server and Redis) for every test,
and sets up kmock's Kubernetes API emulator (the ``kmock`` fixture of its pytest plugin)."""

from __future__ import annotations

from pathlib import Path

import kmock
import pytest
from kmock._internal import parsing

from kubeward.devstack.kube_emulator import parse_namespace_list, write_kubeconfig

pytest_plugins = ["kubeward.devstack.testing"]


@pytest.fixture
def kmock_kubeconfig(kmock: kmock.KubernetesEmulator, tmp_path: Path) -> str:
    """A kubeconfig file pointing the official client at this test's kmock emulator.

    ``kmock`` is an in-memory Kubernetes API emulator on a free loopback port; it records
    every request it gets.
    """
    return str(write_kubeconfig(tmp_path / "kubeconfig.json", str(kmock.url)))


@pytest.fixture(autouse=True)
def kmock_parses_namespace_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let kmock's emulator parse ``GET /api/v1/namespaces`` (see
    :func:`~kubeward.devstack.kube_emulator.parse_namespace_list`)."""
    monkeypatch.setattr(parsing, "parse_path", parse_namespace_list(parsing.parse_path))
