"""Typed settings objects filled from environment variables.

Each service declares one ``msgspec.Struct`` subclass of :class:`BaseSettings`; every field
``foo_bar`` is read from the environment variable ``FOO_BAR``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

import msgspec

S = TypeVar("S", bound="BaseSettings")


class SettingsError(ValueError):
    """An environment variable holds a value its setting cannot take."""


class BaseSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Settings every service shares."""

    nats_url: str = "nats://127.0.0.1:4222"
    """One server, or several comma-separated (a cluster's): the client fails over."""
    mongodb_url: str = "mongodb://127.0.0.1:27017"
    mongodb_db: str = "kubeward"
    redis_url: str = "redis://127.0.0.1:6379/0"
    health_host: str = "0.0.0.0"
    health_port: int = 8081
    watchdog_seconds: float = 10.0
    """How often the liveness checks run; three failures in a row end the process (exit 1)."""
    log_level: str = "INFO"
    max_deliver: int = 5
    """Deliveries of one stream message before it is dead-lettered."""
    nats_stream_replicas: int = 1
    """Replicas of every stream and of the settings bucket this service creates or updates
    (3 on a three-node JetStream cluster; 1 on a single server, which cannot hold more)."""
    gc_young_threshold: int = 50_000
    """Net allocations between collections of the garbage collector's youngest generation
    once the service has started (CPython's default is 700; 0 keeps it): see
    :mod:`kubeward.core.heap`."""


def env_names(cls: type[BaseSettings]) -> list[str]:
    """The environment variables a settings class reads, in field order."""
    return [name.upper() for name in cls.__struct_fields__]


def load_settings(cls: type[S], environ: Mapping[str, str] | None = None) -> S:
    """Build ``cls`` from ``environ`` (default ``os.environ``), converting types.

    Raises :class:`SettingsError` naming the variable when a value does not convert.
    """
    env = os.environ if environ is None else environ
    values = {name: env[name.upper()] for name in cls.__struct_fields__ if name.upper() in env}
    try:
        return msgspec.convert(values, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"invalid environment for {cls.__name__}: {exc}") from exc
