"""Each workspace package declares what it imports, and each service installs and imports
alone (as its container image installs it: ``uv sync --package kubeward-<service> --no-dev``).

A package that imports another only through the workspace's shared virtualenv works under
``make test`` and fails in its own image; these tests fail instead.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Package:
    """One workspace member: its distribution name, what it declares, where its code is."""

    name: str
    declared: frozenset[str]
    src: Path

    @property
    def modules(self) -> list[str]:
        """The ``kubeward.<name>`` packages it ships."""
        return sorted(p.name for p in (self.src / "kubeward").iterdir() if p.is_dir())


def _normalise(requirement: str) -> str:
    """``pyyaml>=6`` → ``pyyaml``; names compared as PEP 503 normalises them."""
    name = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _packages() -> list[Package]:
    found = []
    for pyproject in sorted(ROOT.glob("*/pyproject.toml")) + sorted(
        ROOT.glob("*/*/pyproject.toml")
    ):
        if not (pyproject.parent / "src" / "kubeward").is_dir():
            continue
        project = tomllib.loads(pyproject.read_text())["project"]
        declared = frozenset(_normalise(r) for r in project.get("dependencies", []))
        found.append(Package(_normalise(project["name"]), declared, pyproject.parent / "src"))
    return found


PACKAGES = _packages()
OWNER = {module: p.name for p in PACKAGES for module in p.modules}
"""``kubeward.<module>`` → the workspace distribution that ships it."""
THIRD_PARTY = {
    top: {_normalise(d) for d in dists}
    for top, dists in importlib.metadata.packages_distributions().items()
}


def _imports(src: Path) -> set[str]:
    """Every absolute import in ``src``'s modules, as ``kubeward.<module>`` or a top level."""
    names: set[str] = set()
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                parts = module.split(".")
                names.add(".".join(parts[:2]) if parts[0] == "kubeward" else parts[0])
    return names


def _undeclared(package: Package) -> list[str]:
    missing = []
    for name in sorted(_imports(package.src)):
        if name.startswith("kubeward."):
            owner = OWNER.get(name.split(".")[1])
            if owner is None:
                missing.append(f"{name} (no workspace package ships it)")
            elif owner != package.name and owner not in package.declared:
                missing.append(f"{name} (from {owner})")
        elif name not in sys.stdlib_module_names and name != "__future__":
            dists = THIRD_PARTY.get(name)
            if dists is None:
                missing.append(f"{name} (no installed distribution provides it)")
            elif not dists & package.declared:
                missing.append(f"{name} (from {', '.join(sorted(dists))})")
    return missing


def test_the_workspace_has_every_package() -> None:
    names = {p.name for p in PACKAGES}
    services = {f"kubeward-{p.name.replace('_', '-')}" for p in (ROOT / "services").iterdir()}
    assert services <= names
    assert {"kubeward-schemas", "kubeward-core", "kubeward-kube", "kubeward-devstack"} <= names


@pytest.mark.parametrize("package", PACKAGES, ids=[p.name for p in PACKAGES])
def test_every_import_is_a_declared_dependency(package: Package) -> None:
    assert _undeclared(package) == []


SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if p.is_dir())


@pytest.mark.timeout(600)
@pytest.mark.parametrize("service", SERVICES)
def test_each_service_installs_alone_and_imports_its_entry_point(
    service: str, tmp_path: Path
) -> None:
    """What the Dockerfile does for one service: its dependencies from the lock, nothing else."""
    env = os.environ | {
        "UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv"),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_LINK_MODE": "copy",
    }
    distribution = f"kubeward-{service.replace('_', '-')}"
    command = ["uv", "sync", "--frozen", "--no-dev", "--package", distribution]
    sync = subprocess.run(
        [*command, "--python", sys.executable],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert sync.returncode == 0, sync.stderr
    python = tmp_path / "venv" / "bin" / "python"
    imported = subprocess.run(
        [str(python), "-c", f"import kubeward.{service}.__main__"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert imported.returncode == 0, imported.stderr
