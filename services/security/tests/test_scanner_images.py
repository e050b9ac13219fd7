"""Image references as the runtime reads them, and trusted-registry matching."""

from __future__ import annotations

import pytest

from kubeward.security.scanner import (
    DEFAULT_TRUSTED_REGISTRIES,
    image_registry,
    is_trusted,
    parse_image,
)

DIGEST = "sha256:" + "0" * 64


@pytest.mark.parametrize(
    ("image", "registry", "repository", "tag", "digest"),
    [
        ("nginx", "docker.io", "library/nginx", "", ""),
        ("nginx:1.27", "docker.io", "library/nginx", "1.27", ""),
        ("user/app", "docker.io", "user/app", "", ""),
        ("user/app:v2", "docker.io", "user/app", "v2", ""),
        ("docker.io/nginx", "docker.io", "library/nginx", "", ""),
        ("index.docker.io/library/nginx:latest", "docker.io", "library/nginx", "latest", ""),
        ("localhost/app", "localhost", "app", "", ""),
        ("localhost:5000/x", "localhost:5000", "x", "", ""),
        ("localhost:5000/x:1", "localhost:5000", "x", "1", ""),
        (
            "Registry.Example.com:5000/team/app:1.0",
            "registry.example.com:5000",
            "team/app",
            "1.0",
            "",
        ),
        (f"ghcr.io/acme/app@{DIGEST}", "ghcr.io", "acme/app", "", DIGEST),
        (f"ghcr.io/acme/app:1.2@{DIGEST}", "ghcr.io", "acme/app", "1.2", DIGEST),
        (f"nginx@{DIGEST}", "docker.io", "library/nginx", "", DIGEST),
        ("registry.k8s.io/pause:3.9", "registry.k8s.io", "pause", "3.9", ""),
        ("quay.io/prometheus/node-exporter", "quay.io", "prometheus/node-exporter", "", ""),
    ],
)
def test_parse_image(image: str, registry: str, repository: str, tag: str, digest: str) -> None:
    ref = parse_image(image)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert image_registry(image) == registry


@pytest.mark.parametrize(
    ("image", "trusted", "expected"),
    [
        ("ghcr.io/acme/app:1", ["ghcr.io"], True),
        ("ghcr.io/acme/app:1", ["ghcr.io/acme"], True),
        ("ghcr.io/acme:1", ["ghcr.io/acme"], True),
        ("ghcr.io/acmecorp/app:1", ["ghcr.io/acme"], False),
        ("ghcr.io/acme/app:1", ["ghcr.io/acme/"], True),
        ("ghcr.io/acme/app:1", ["https://ghcr.io/acme"], True),
        ("ghcr.io.evil.com/acme/app", ["ghcr.io"], False),
        ("evil.com/ghcr.io/acme/app", ["ghcr.io"], False),
        ("nginx", ["docker.io/library"], True),
        ("nginx", ["docker.io"], True),
        ("nginx", ["index.docker.io"], True),
        ("someone/nginx", ["docker.io/library"], False),
        ("bitnami/redis:7", ["bitnami"], True),
        ("bitnami/redis:7", ["bitnami/redis"], True),
        ("bitnamilabs/redis:7", ["bitnami"], False),
        ("localhost:5000/x", ["localhost:5000"], True),
        ("localhost:5000/x", ["localhost"], False),
        ("REGISTRY.example.com/app", ["registry.example.com"], True),
        ("registry.example.com/app", ["Registry.Example.com"], True),
        ("registry.example.com/app", [], False),
        ("registry.example.com/app", ["  "], False),
    ],
)
def test_is_trusted(image: str, trusted: list[str], expected: bool) -> None:
    assert is_trusted(image, trusted) is expected


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("nginx:1.27", True),
        ("postgres", True),
        ("registry.k8s.io/ingress-nginx/controller:v1.10.0", True),
        ("gcr.io/distroless/static:nonroot", True),
        ("mcr.microsoft.com/dotnet/aspnet:8.0", True),
        ("public.ecr.aws/docker/library/redis:7", True),
        ("randomuser/nginx", False),
        ("quay.io/someone/tool", False),
        ("gcr.io/someproject/app", False),
        ("public.ecr.aws/someone/app", False),
    ],
)
def test_default_trusted_registries(image: str, expected: bool) -> None:
    assert is_trusted(image, DEFAULT_TRUSTED_REGISTRIES) is expected
