"""Admin settings on a real nats-server: values, validation, live watch, secrets, audit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from kubeward.core.app_settings import BUCKET, AppSettings
from kubeward.core.bus import connect
from kubeward.core.settings_values import (
    EXCLUDED_NAMESPACES,
    EXCLUDED_PODS,
    HISTORY_RETENTION,
    LLM_CONFIG,
    MIRROR_TTL,
    LLMConfig,
    MirrorTTL,
    NotificationSetting,
    SettingValidationError,
    UnknownSettingError,
    WebhookConfig,
    is_excluded,
    mask_secret,
    mask_url,
)
from kubeward.core.settings_watch import SettingChange
from kubeward.devstack import infra
from kubeward.devstack.procs import free_port
from kubeward.devstack.testing import eventually

SECRET = "test-settings-secret-0123456789"
API_KEY = "sk-live-abcdefghijklmnopqrstuvwxyz1234"
SLACK_URL = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXXwxyz"


@pytest.fixture
async def js(nc: NATS) -> JetStreamContext:
    """JetStream on the test's own server."""
    return nc.jetstream()


@pytest.fixture
async def settings(js: JetStreamContext) -> AsyncIterator[AppSettings]:
    """One service's view of the settings."""
    s = await AppSettings.open(js, SECRET)
    yield s
    await s.close()


@pytest.fixture
async def other(nats_url: str, settings: AppSettings) -> AsyncIterator[AppSettings]:
    """A second service: its own NATS connection and its own AppSettings."""
    conn = await nats.connect(nats_url)
    s = await AppSettings.open(conn.jetstream(), SECRET)
    yield s
    await s.close()
    await conn.close()


async def raw_value(js: JetStreamContext, key: str) -> bytes:
    """The bytes stored in the bucket for ``key``."""
    entry = await (await js.key_value(BUCKET)).get(key)
    return bytes(entry.value or b"")


async def test_defaults_when_nothing_is_set(settings: AppSettings) -> None:
    assert settings.history_retention_minutes() == 0
    assert settings.ignored_retention_minutes() == 0
    assert settings.mirror_ttl_seconds() == 180
    assert settings.get_reference("mirror-ttl") == 180
    assert settings.excluded_namespaces() == () and settings.excluded_pods() == ()
    assert settings.llm_config() is None
    assert settings.notifications() == {} and settings.enabled_notifications() == {}
    assert not settings.is_set(MIRROR_TTL)
    assert settings.problems() == {}
    assert await settings.is_healthy()


async def test_bucket_is_created_with_history_and_one_replica_standalone(
    settings: AppSettings, js: JetStreamContext
) -> None:
    info = await js.stream_info(f"KV_{BUCKET}")
    assert info.config.max_msgs_per_subject == 5
    assert info.config.num_replicas == 1  # asked for 3; a standalone server has one


async def test_set_and_get_typed_and_reference_keys(settings: AppSettings) -> None:
    assert await settings.set_reference("history_retention_minutes", "10080", actor="a") == 10080
    assert await settings.set_reference("ignored_retention_minutes", 60, actor="a") == 60
    await settings.set_mirror_ttl(300, actor="a")
    assert settings.history_retention_minutes() == 10080
    assert settings.get_reference("ignored_retention_minutes") == 60
    assert settings.mirror_ttl_seconds() == 300
    assert settings.get(MIRROR_TTL) == MirrorTTL(seconds=300)
    await settings.set_history_retention_minutes(0)  # 0 = keep forever is allowed
    assert settings.history_retention_minutes() == 0
    assert await settings.delete(MIRROR_TTL, actor="a")
    assert settings.mirror_ttl_seconds() == 180
    assert not await settings.delete(MIRROR_TTL, actor="a")


async def test_values_are_durable_across_instances(js: JetStreamContext) -> None:
    first = await AppSettings.open(js, SECRET)
    await first.set_mirror_ttl(900)
    await first.add_excluded_pod("test-*")
    await first.close()
    second = await AppSettings.open(js, SECRET)
    assert second.mirror_ttl_seconds() == 900 and second.excluded_pods() == ("test-*",)
    await second.close()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (MIRROR_TTL, {"seconds": 10}, "Invalid mirror.ttl_seconds: seconds must be between "
         "30 and 3600, got 10"),
        (MIRROR_TTL, {"seconds": 3601}, "Invalid mirror.ttl_seconds: seconds must be between "
         "30 and 3600, got 3601"),
        (HISTORY_RETENTION, {"minutes": -1}, "Invalid retention.history_minutes: minutes must "
         "be an integer >= 0 (0 = keep forever), got -1"),
        (HISTORY_RETENTION, {"minutes": "soon"}, "Invalid retention.history_minutes: minutes "
         "expected `int`, got `str`"),
        (LLM_CONFIG, {"provider": "openai"}, "Invalid llm.config: value object missing "
         "required field `model`"),
        (LLM_CONFIG, {"provider": "openai", "model": "gpt-4o", "base_url": "ftp://x"},
         "Invalid llm.config: base_url must be an absolute http(s) URL"),
        ("notifications.slack", {"config": {"webhook_url": "not a url"}},
         "Invalid notifications.slack: config.webhook_url must be an absolute http(s) URL"),
        (EXCLUDED_PODS, {"patterns": ["ok-*", "bad pattern"]}, "Invalid exclusions.pods: "
         "pattern must be 1-253 characters of letters, digits, '.', '-', '_' and the glob "
         "characters '*?[]!', got 'bad pattern'"),
    ],
)  # fmt: skip
async def test_validation_errors_name_key_and_field(
    settings: AppSettings, key: str, value: object, message: str
) -> None:
    with pytest.raises(SettingValidationError) as info:
        await settings.set(key, value, actor="alice")
    assert str(info.value) == message
    assert isinstance(info.value, ValueError) and info.value.key == key
    assert not settings.is_set(key)
    assert await settings.audit_log() == []  # nothing changed, nothing audited


async def test_reference_errors_name_the_reference_key(settings: AppSettings) -> None:
    with pytest.raises(SettingValidationError) as info:
        await settings.set_reference("history_retention_minutes", "abc")
    assert str(info.value) == ("Invalid history_retention_minutes: value expected `int`, got `str`")
    with pytest.raises(SettingValidationError) as info:
        await settings.set_reference("mirror-ttl", 5)
    assert str(info.value) == "Invalid mirror-ttl: seconds must be between 30 and 3600, got 5"
    with pytest.raises(UnknownSettingError) as unknown:
        settings.get_reference("no_such_setting")
    assert str(unknown.value) == "Unknown setting: no_such_setting"
    with pytest.raises(UnknownSettingError):
        await settings.set("no.such.key", 1)
    with pytest.raises(SettingValidationError, match="provider must be one of"):
        await settings.set_notification("pager", {"config": {"webhook_url": SLACK_URL}})


async def test_a_change_reaches_another_service_live(
    settings: AppSettings, other: AppSettings
) -> None:
    seen: list[SettingChange] = []
    unsubscribe = other.on_change(seen.append, prefix="mirror.")
    async with other.watch() as changes:
        await settings.set_mirror_ttl(600, actor="alice")
        change = await changes.next(timeout=5)
        assert (change.key, change.value, change.deleted) == (
            MIRROR_TTL,
            MirrorTTL(seconds=600),
            False,
        )
        assert other.mirror_ttl_seconds() == 600

        await settings.add_excluded_namespace("kube-*", actor="alice")
        change = await changes.next(timeout=5)
        assert change.key == EXCLUDED_NAMESPACES
        assert other.is_excluded("kube-system", "coredns-1")

        await settings.delete(MIRROR_TTL, actor="alice")
        change = await changes.next(timeout=5)
        assert (change.key, change.value, change.deleted) == (MIRROR_TTL, MirrorTTL(), True)
        assert other.mirror_ttl_seconds() == 180
    assert [(c.key, c.deleted) for c in seen] == [(MIRROR_TTL, False), (MIRROR_TTL, True)]
    unsubscribe()
    await settings.set_mirror_ttl(700)
    await eventually(lambda: _ttl(other), lambda t: t == 700, what="ttl 700 seen")
    assert len(seen) == 2


async def _ttl(s: AppSettings) -> int:
    return s.mirror_ttl_seconds()


async def test_watch_ends_when_settings_close(js: JetStreamContext) -> None:
    s = await AppSettings.open(js, SECRET)
    watch = s.watch()
    await s.close()
    assert [c async for c in watch] == []


async def test_concurrent_pattern_edits_from_two_services_all_land(
    settings: AppSettings, other: AppSettings
) -> None:
    names = [f"ns-{i}" for i in range(12)]
    added = await asyncio.gather(
        *(
            (settings if i % 2 else other).add_excluded_namespace(name, actor="bulk")
            for i, name in enumerate(names)
        )
    )
    assert all(added)
    assert sorted(settings.excluded_namespaces()) == sorted(names)
    await eventually(
        lambda: _namespaces(other), lambda ns: sorted(ns) == sorted(names), what="other synced"
    )
    assert not await settings.add_excluded_namespace("ns-3")  # already there
    assert await other.remove_excluded_namespace("ns-3")
    assert not await other.remove_excluded_namespace("ns-3")
    assert "ns-3" not in other.excluded_namespaces()


async def _namespaces(s: AppSettings) -> tuple[str, ...]:
    return s.excluded_namespaces()


async def test_api_key_and_webhook_url_are_encrypted_at_rest(
    settings: AppSettings, other: AppSettings, js: JetStreamContext
) -> None:
    stored = await settings.set_llm_config(
        {"provider": "OpenAI", "model": "gpt-4o-mini", "api_key": API_KEY}, actor="alice"
    )
    assert stored == LLMConfig(provider="openai", model="gpt-4o-mini", api_key=API_KEY)
    await settings.set_notification(
        "slack", {"enabled": True, "config": {"webhook_url": SLACK_URL}}, actor="alice"
    )
    raw_llm = await raw_value(js, LLM_CONFIG)
    raw_slack = await raw_value(js, "notifications.slack")
    assert API_KEY.encode() not in raw_llm and b"abcdefghijkl" not in raw_llm
    assert msgspec.json.decode(raw_llm)["api_key"].startswith("enc:v1:")
    assert SLACK_URL.encode() not in raw_slack and b"secret" not in raw_slack
    assert b"gpt-4o-mini" in raw_llm  # only the secrets are sealed

    await eventually(lambda: _llm(other), lambda c: c is not None, what="llm config synced")
    assert other.llm_config() == stored
    await eventually(lambda: _enabled(other), lambda e: "slack" in e, what="slack synced")
    assert other.enabled_notifications() == {"slack": WebhookConfig(webhook_url=SLACK_URL)}


async def _llm(s: AppSettings) -> LLMConfig | None:
    return s.llm_config()


async def _enabled(s: AppSettings) -> dict[str, WebhookConfig]:
    return dict(s.enabled_notifications())


async def test_wrong_secret_reads_as_unset_and_old_secret_rotates(
    settings: AppSettings, js: JetStreamContext
) -> None:
    await settings.set_llm_config({"provider": "anthropic", "model": "claude", "api_key": API_KEY})
    wrong = await AppSettings.open(js, "another-secret-of-enough-length")
    assert wrong.llm_config() is None
    assert "cannot decrypt" in wrong.problems()[LLM_CONFIG]
    assert API_KEY not in str(wrong.problems())
    await wrong.close()

    rotated = await AppSettings.open(js, "the-new-secret-0123456789", old_secrets=[SECRET])
    config = rotated.llm_config()
    assert config is not None and config.api_key == API_KEY
    await rotated.set_llm_config(config)  # re-sealed with the new secret
    await rotated.close()
    await eventually(
        lambda: _problems(settings), lambda p: LLM_CONFIG in p, what="old secret no longer opens"
    )
    with pytest.raises(ValueError, match="at least 16 characters"):
        await AppSettings.open(js, "short")


async def _problems(s: AppSettings) -> dict[str, str]:
    return s.problems()


async def test_unreadable_stored_value_falls_back_to_default_and_recovers(
    settings: AppSettings, js: JetStreamContext
) -> None:
    kv = await js.key_value(BUCKET)
    async with settings.watch(MIRROR_TTL) as changes:
        await kv.put(MIRROR_TTL, b'{"seconds": 5}')  # written around the API
        assert (await changes.next(timeout=5)).value == MirrorTTL()
        assert settings.mirror_ttl_seconds() == 180
        assert "seconds must be between" in settings.problems()[MIRROR_TTL]
        await settings.set_mirror_ttl(240)
        assert settings.mirror_ttl_seconds() == 240 and settings.problems() == {}


async def test_masked_views_never_show_secrets(settings: AppSettings) -> None:
    await settings.set_llm_config(
        LLMConfig(provider="openai", model="gpt-4o", api_key=API_KEY, base_url=None)
    )
    await settings.set_notification(
        "discord",
        NotificationSetting(
            enabled=False,
            config=WebhookConfig(webhook_url="https://discord.com/api/webhooks/123/tokenABCDEFGH"),
        ),
    )
    llm = settings.masked(LLM_CONFIG)
    assert llm.api_key == "sk-***1234"
    snapshot = msgspec.json.encode(settings.masked_snapshot())
    assert API_KEY.encode() not in snapshot and b"tokenABCD" not in snapshot
    assert settings.masked_snapshot()["notifications.discord"] == {
        "config": {"webhook_url": "https://discord.com/***EFGH"},
        "enabled": False,
    }
    assert API_KEY not in repr(settings.llm_config()) and API_KEY not in str(settings.llm_config())
    assert "token" not in repr(settings.notification("discord"))
    assert settings.enabled_notifications() == {}  # discord is configured but disabled


def test_masking_rules() -> None:
    assert mask_secret("sk-abcdefgh1234") == "sk-***1234"
    assert mask_secret("AIzaSyABCDEFGHIJ9876") == "***9876"
    assert mask_secret("short-key") == "***"
    assert mask_secret("") == ""
    assert mask_url(SLACK_URL) == "https://hooks.slack.com/***wxyz"
    assert mask_url("https://user:pw@example.com:8443/x") == "https://example.com:8443/***"
    assert mask_url("nonsense") == "***"


def test_exclusion_matcher() -> None:
    assert is_excluded("kube-system", "x", ["kube-*"], [])
    assert is_excluded("default", "test-abc", [], ["test-*"])
    assert is_excluded("default", "web-7", [], ["web-?"])
    assert not is_excluded("default", "Test-abc", [], ["test-*"])  # case-sensitive
    assert not is_excluded("default", "web-17", ["kube-*"], ["web-?"])


async def test_audit_records_who_changed_what(settings: AppSettings, other: AppSettings) -> None:
    await settings.set_mirror_ttl(300, actor="alice")
    await other.add_excluded_pod("test-*", actor="bob")
    await settings.set_llm_config(
        {"provider": "openai", "model": "gpt-4o", "api_key": API_KEY}, actor="alice"
    )
    await other.delete_llm_config(actor="carol")
    await other.remove_excluded_pod("test-*", actor="bob")

    log = await settings.audit_log(limit=10)
    assert [(r.actor, r.action, r.key) for r in log] == [
        ("bob", "remove", EXCLUDED_PODS),
        ("carol", "delete", LLM_CONFIG),
        ("alice", "set", LLM_CONFIG),
        ("bob", "add", EXCLUDED_PODS),
        ("alice", "set", MIRROR_TTL),
    ]
    assert log[4].details["value"] == {"seconds": 300}
    assert log[3].details["pattern"] == "test-*"
    assert log[2].details["value"]["api_key"] == "sk-***1234"
    assert all(API_KEY not in msgspec.json.encode(r).decode() for r in log)
    assert log[0].at >= log[4].at and log[0].seq > log[1].seq

    newest_two = await other.audit_log(limit=2)
    assert [r.seq for r in newest_two] == [log[0].seq, log[1].seq]
    older = await other.audit_log(limit=2, before=newest_two[-1].seq)
    assert [r.seq for r in older] == [log[2].seq, log[3].seq]


async def test_watch_survives_a_nats_server_restart(tmp_path: Path, infra_logs: Path) -> None:
    port = free_port()
    server = infra.nats(port, tmp_path / "js", infra_logs)
    url = f"nats://127.0.0.1:{port}"
    writer_conn = await connect(url, "writer")
    reader_conn = await connect(url, "reader")
    writer = await AppSettings.open(writer_conn.jetstream(), SECRET)
    reader = await AppSettings.open(reader_conn.jetstream(), SECRET)
    try:
        server.stop()
        server = infra.nats(port, tmp_path / "js", infra_logs)  # same store: data survives
        await eventually(
            lambda: _set_ttl(writer, 1200), bool, timeout=30, what="write after restart"
        )
        await eventually(
            lambda: _ttl(reader), lambda t: t == 1200, timeout=30, what="reader caught up"
        )
    finally:
        await reader.close()
        await writer.close()
        await reader_conn.close()
        await writer_conn.close()
        server.stop()


async def _set_ttl(s: AppSettings, seconds: int) -> bool:
    try:
        await s.set_mirror_ttl(seconds)
    except Exception:
        return False  # still reconnecting
    return True


def test_unparsable_url_is_a_validation_error() -> None:
    from kubeward.core.settings_values import SettingValidationError, check_url

    with pytest.raises(SettingValidationError, match="absolute http"):
        check_url("llm.config", "base_url", "http://[::1")
