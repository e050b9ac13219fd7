"""Image references: normalisation as the container runtime does it, trust, and the image
checks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import NamedTuple

DOCKER_HUB = "docker.io"

DEFAULT_TRUSTED_REGISTRIES: tuple[str, ...] = (
    "registry.k8s.io",
    "k8s.gcr.io",
    "docker.io/library",
    "public.ecr.aws/docker/library",
    "gcr.io/distroless",
    "mcr.microsoft.com",
    "cgr.dev/chainguard",
)
"""Registries and repository prefixes trusted when none are configured.

The rule: trust a location only when a single vetted publisher controls everything in it.

- ``registry.k8s.io`` (and its frozen predecessor ``k8s.gcr.io``): the Kubernetes
  project's own images, built and signed by its release process.
- ``docker.io/library`` and its AWS mirror ``public.ecr.aws/docker/library``: Docker
  Official Images (``nginx``, ``postgres``, ...), reviewed and rebuilt by Docker — but not
  the rest of Docker Hub, where anyone can publish.
- ``gcr.io/distroless``: Google's distroless base images — not all of gcr.io.
- ``mcr.microsoft.com``: only Microsoft publishes there.
- ``cgr.dev/chainguard``: Chainguard's hardened, signed public images.

Deliberately absent: ``quay.io``, ``ghcr.io``, ``public.ecr.aws`` and the rest of
``docker.io`` and ``gcr.io`` — anyone can push to them, so trusting a whole host there
trusts strangers. Add an organisation's prefix (``ghcr.io/acme``) instead.
"""


class ImageRef(NamedTuple):
    """A parsed image reference."""

    registry: str
    """Lower-case host, with port: ``docker.io``, ``localhost:5000``."""
    repository: str
    """Path below the registry: ``library/nginx``."""
    tag: str
    """``""`` when none is given."""
    digest: str
    """``sha256:...`` or ``""``."""

    @property
    def name(self) -> str:
        """``registry/repository``: what trusted prefixes are matched against."""
        return f"{self.registry}/{self.repository}"


def _is_host(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


@lru_cache(maxsize=8192)
def parse_image(image: str) -> ImageRef:
    """Parse ``image`` as the runtime does: ``nginx`` → ``docker.io/library/nginx``,
    ``user/app`` → ``docker.io/user/app``; ports, tags and digests kept apart."""
    ref = image.strip()
    digest = ""
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    tag = ""
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        ref, tag = ref[:colon], ref[colon + 1 :]
    first, sep, rest = ref.partition("/")
    if sep and _is_host(first):
        registry, repository = first.lower(), rest
    else:
        registry, repository = DOCKER_HUB, ref
    if registry in ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"):
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    return ImageRef(registry, repository, tag, digest)


def image_registry(image: str) -> str:
    """The registry host an image is pulled from (``nginx`` → ``docker.io``)."""
    return parse_image(image).registry


class TrustEntry(NamedTuple):
    """A normalised trusted-registry entry: a host, or a repository prefix."""

    host: str
    prefix: str
    """``""`` when the entry is a whole host."""


@lru_cache(maxsize=1024)
def trust_entry(entry: str) -> TrustEntry:
    """Normalise one trusted entry.

    ``ghcr.io`` is a host; ``ghcr.io/acme`` a prefix; ``acme/tools`` (no host) is a Docker
    Hub prefix (``docker.io/acme/tools``), as the runtime would read it; a bare name
    without a dot (``bitnami``) is a Docker Hub namespace (``docker.io/bitnami``).
    """
    value = entry.strip()
    for scheme in ("https://", "http://"):
        if value.startswith(scheme):
            value = value[len(scheme) :]
    value = value.strip("/")
    first, sep, rest = value.partition("/")
    if not sep:
        if _is_host(first):
            host = first.lower()
            return TrustEntry(DOCKER_HUB if host == "index.docker.io" else host, "")
        return TrustEntry(DOCKER_HUB, f"{DOCKER_HUB}/{first}")
    if _is_host(first):
        host = first.lower()
        if host == "index.docker.io":
            host = DOCKER_HUB
        return TrustEntry(host, f"{host}/{rest}")
    return TrustEntry(DOCKER_HUB, f"{DOCKER_HUB}/{value}")


def trusts(ref: ImageRef, entries: Iterable[TrustEntry]) -> bool:
    """Whether any normalised entry covers ``ref`` (prefixes on path-segment boundaries)."""
    name = ref.name
    for entry in entries:
        if entry.host != ref.registry:
            continue
        if not entry.prefix:
            return True
        if name == entry.prefix or name.startswith(entry.prefix + "/"):
            return True
    return False


def is_trusted(image: str, trusted: Sequence[str]) -> bool:
    """Whether ``image`` comes from one of the ``trusted`` registries or repository
    prefixes. ``ghcr.io/acme`` trusts ``ghcr.io/acme/app`` but not ``ghcr.io/acmecorp/app``."""
    return trusts(parse_image(image), [trust_entry(t) for t in trusted if t.strip()])
