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
from kubeward.core.secret_box import SecretBox
from kubeward.core.settings_cache import SettingsCache
from kubeward.core.settings_codec import UNREADABLE, SettingsCodec, shown
from kubeward.core.settings_watch import SettingChange
from kubeward.devstack import infra
from kubeward.devstack.procs import free_port
from kubeward.devstack.testing import eventually
from kubeward.schemas.setting_key import (
    UNCHANGED,
    KeyRegistry,
    SecretField,
    SettingEdit,
    SettingKey,
    SettingValidationError,
    UnknownSettingError,
    mask_secret,
    mask_url,
)
from kubeward.schemas.settings import (
    EXCLUDED_NAMESPACES,
    EXCLUDED_PODS,
    HISTORY_RETENTION,
    IGNORED_RETENTION,
    KEYS,
    LLM_CONFIG,
    MIRROR_TTL,
    NOTIFICATIONS,
    LLMConfig,
    MirrorTTL,
    NotificationSetting,
    Retention,
    WebhookConfig,
    add_pattern,
    is_excluded,
    notification_key,
    reference_key,
    reference_scalar,
    reference_value,
    remove_pattern,
)

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
    s = await AppSettings.open(js, SECRET, keys=KEYS)
    yield s
    await s.close()


@pytest.fixture
async def other(nats_url: str, settings: AppSettings) -> AsyncIterator[AppSettings]:
    """A second service: its own NATS connection and its own AppSettings."""
    conn = await nats.connect(nats_url)
    s = await AppSettings.open(conn.jetstream(), SECRET, keys=KEYS)
    yield s
    await s.close()
    await conn.close()


def get_reference(s: AppSettings, name: str) -> int:
    """A reference key's value as the plain number the Kure API shows."""
    return reference_scalar(s.get(reference_key(name)))


async def set_reference(s: AppSettings, name: str, raw: object, actor: str = "system") -> int:
    """Set a reference key from a request's raw value; returns the stored number."""
    return reference_scalar(
        await s.set(reference_key(name), reference_value(name, raw), actor=actor)
    )


def enabled_notifications(s: AppSettings) -> dict[str, WebhookConfig]:
    """Provider -> webhook of every enabled provider."""
    found = {p: s.get(key) for p, key in NOTIFICATIONS.items()}
    return {p: n.config for p, n in found.items() if n is not None and n.enabled}


async def raw_value(js: JetStreamContext, key: str) -> bytes:
    """The bytes stored in the bucket for ``key``."""
    entry = await (await js.key_value(BUCKET)).get(key)
    return bytes(entry.value or b"")


async def test_defaults_when_nothing_is_set(settings: AppSettings) -> None:
    assert settings.get(HISTORY_RETENTION).minutes == 0
    assert settings.get(IGNORED_RETENTION).minutes == 0
    assert settings.get(MIRROR_TTL).seconds == 180
    assert get_reference(settings, "mirror-ttl") == 180
    assert (
        settings.get(EXCLUDED_NAMESPACES).patterns == ()
        and settings.get(EXCLUDED_PODS).patterns == ()
    )
    assert settings.get(LLM_CONFIG) is None
    assert (
        all(settings.get(k) is None for k in NOTIFICATIONS.values())
        and enabled_notifications(settings) == {}
    )
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
    assert await set_reference(settings, "history_retention_minutes", "10080", actor="a") == 10080
    assert await set_reference(settings, "ignored_retention_minutes", 60, actor="a") == 60
    await settings.set(MIRROR_TTL, MirrorTTL(seconds=300), actor="a")
    assert settings.get(HISTORY_RETENTION).minutes == 10080
    assert get_reference(settings, "ignored_retention_minutes") == 60
    assert settings.get(MIRROR_TTL).seconds == 300
    assert settings.get(MIRROR_TTL) == MirrorTTL(seconds=300)
    await settings.set(HISTORY_RETENTION, Retention(minutes=0))  # 0 = keep forever is allowed
    assert settings.get(HISTORY_RETENTION).minutes == 0
    assert await settings.delete(MIRROR_TTL, actor="a")
    assert settings.get(MIRROR_TTL).seconds == 180
    assert not await settings.delete(MIRROR_TTL, actor="a")


async def test_values_are_durable_across_instances(js: JetStreamContext) -> None:
    first = await AppSettings.open(js, SECRET, keys=KEYS)
    await first.set(MIRROR_TTL, MirrorTTL(seconds=900))
    await first.apply(add_pattern(EXCLUDED_PODS, "test-*"))
    await first.close()
    second = await AppSettings.open(js, SECRET, keys=KEYS)
    assert second.get(MIRROR_TTL).seconds == 900 and second.get(EXCLUDED_PODS).patterns == (
        "test-*",
    )
    await second.close()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (MIRROR_TTL.name, {"seconds": 10}, "Invalid mirror.ttl_seconds: seconds must be between "
         "30 and 3600, got 10"),
        (MIRROR_TTL.name, {"seconds": 3601}, "Invalid mirror.ttl_seconds: seconds must be between "
         "30 and 3600, got 3601"),
        (HISTORY_RETENTION.name, {"minutes": -1}, "Invalid retention.history_minutes: minutes must "
         "be an integer >= 0 (0 = keep forever), got -1"),
        (HISTORY_RETENTION.name, {"minutes": "soon"}, "Invalid retention.history_minutes: minutes "
         "expected `int`, got `str`"),
        (LLM_CONFIG.name, {"provider": "openai"}, "Invalid llm.config: value object missing "
         "required field `model`"),
        (LLM_CONFIG.name, {"provider": "openai", "model": "gpt-4o", "base_url": "ftp://x"},
         "Invalid llm.config: base_url must be an absolute http(s) URL"),
        ("notifications.slack", {"config": {"webhook_url": "not a url"}},
         "Invalid notifications.slack: config.webhook_url must be an absolute http(s) URL"),
        (EXCLUDED_PODS.name, {"patterns": ["ok-*", "bad pattern"]}, "Invalid exclusions.pods: "
         "pattern must be 1-253 characters of letters, digits, '.', '-', '_' and the glob "
         "characters '*?[]!', got 'bad pattern'"),
    ],
)  # fmt: skip
async def test_validation_errors_name_key_and_field(
    settings: AppSettings, key: str, value: object, message: str
) -> None:
    with pytest.raises(SettingValidationError) as info:
        await settings.set(settings.key(key), value, actor="alice")
    assert str(info.value) == message
    assert isinstance(info.value, ValueError) and info.value.key == key
    assert not settings.is_set(settings.key(key))
    assert await settings.audit_log() == []  # nothing changed, nothing audited


async def test_reference_errors_name_the_reference_key(settings: AppSettings) -> None:
    with pytest.raises(SettingValidationError) as info:
        await set_reference(settings, "history_retention_minutes", "abc")
    assert str(info.value) == ("Invalid history_retention_minutes: value expected `int`, got `str`")
    with pytest.raises(SettingValidationError) as info:
        await set_reference(settings, "mirror-ttl", 5)
    assert str(info.value) == "Invalid mirror-ttl: seconds must be between 30 and 3600, got 5"
    with pytest.raises(UnknownSettingError) as unknown:
        get_reference(settings, "no_such_setting")
    assert str(unknown.value) == "Unknown setting: no_such_setting"
    with pytest.raises(UnknownSettingError):
        await settings.set(settings.key("no.such.key"), 1)
    with pytest.raises(SettingValidationError, match="provider must be one of"):
        await settings.set(notification_key("pager"), {"config": {"webhook_url": SLACK_URL}})


async def test_a_change_reaches_another_service_live(
    settings: AppSettings, other: AppSettings
) -> None:
    seen: list[SettingChange] = []
    unsubscribe = other.on_change(seen.append, prefix="mirror.")
    async with other.watch() as changes:
        await settings.set(MIRROR_TTL, MirrorTTL(seconds=600), actor="alice")
        change = await changes.next(timeout=5)
        assert (change.key, change.value, change.deleted) == (
            MIRROR_TTL.name,
            MirrorTTL(seconds=600),
            False,
        )
        assert other.get(MIRROR_TTL).seconds == 600

        await settings.apply(add_pattern(EXCLUDED_NAMESPACES, "kube-*"), actor="alice")
        change = await changes.next(timeout=5)
        assert change.key == EXCLUDED_NAMESPACES.name
        assert is_excluded(
            "kube-system",
            "coredns-1",
            other.get(EXCLUDED_NAMESPACES).patterns,
            other.get(EXCLUDED_PODS).patterns,
        )

        await settings.delete(MIRROR_TTL, actor="alice")
        change = await changes.next(timeout=5)
        assert (change.key, change.value, change.deleted) == (MIRROR_TTL.name, MirrorTTL(), True)
        assert other.get(MIRROR_TTL).seconds == 180
    assert [(c.key, c.deleted) for c in seen] == [(MIRROR_TTL.name, False), (MIRROR_TTL.name, True)]
    unsubscribe()
    await settings.set(MIRROR_TTL, MirrorTTL(seconds=700))
    await eventually(lambda: _ttl(other), lambda t: t == 700, what="ttl 700 seen")
    assert len(seen) == 2


async def _ttl(s: AppSettings) -> int:
    return s.get(MIRROR_TTL).seconds


async def test_watch_ends_when_settings_close(js: JetStreamContext) -> None:
    s = await AppSettings.open(js, SECRET, keys=KEYS)
    watch = s.watch()
    await s.close()
    assert [c async for c in watch] == []


async def test_concurrent_pattern_edits_from_two_services_all_land(
    settings: AppSettings, other: AppSettings
) -> None:
    names = [f"ns-{i}" for i in range(12)]
    added = await asyncio.gather(
        *(
            (settings if i % 2 else other).apply(
                add_pattern(EXCLUDED_NAMESPACES, name), actor="bulk"
            )
            for i, name in enumerate(names)
        )
    )
    assert all(added)
    assert sorted(settings.get(EXCLUDED_NAMESPACES).patterns) == sorted(names)
    await eventually(
        lambda: _namespaces(other), lambda ns: sorted(ns) == sorted(names), what="other synced"
    )
    assert not await settings.apply(add_pattern(EXCLUDED_NAMESPACES, "ns-3"))  # already there
    assert await other.apply(remove_pattern(EXCLUDED_NAMESPACES, "ns-3"))
    assert not await other.apply(remove_pattern(EXCLUDED_NAMESPACES, "ns-3"))
    assert "ns-3" not in other.get(EXCLUDED_NAMESPACES).patterns


async def _namespaces(s: AppSettings) -> tuple[str, ...]:
    return s.get(EXCLUDED_NAMESPACES).patterns


async def test_api_key_and_webhook_url_are_encrypted_at_rest(
    settings: AppSettings, other: AppSettings, js: JetStreamContext
) -> None:
    stored = await settings.set(
        LLM_CONFIG,
        {"provider": "OpenAI", "model": "gpt-4o-mini", "api_key": API_KEY},
        actor="alice",
    )
    assert stored == LLMConfig(provider="openai", model="gpt-4o-mini", api_key=API_KEY)
    await settings.set(
        notification_key("slack"),
        {"enabled": True, "config": {"webhook_url": SLACK_URL}},
        actor="alice",
    )
    raw_llm = await raw_value(js, LLM_CONFIG.name)
    raw_slack = await raw_value(js, "notifications.slack")
    assert API_KEY.encode() not in raw_llm and b"abcdefghijkl" not in raw_llm
    assert msgspec.json.decode(raw_llm)["api_key"].startswith("enc:v1:")
    assert SLACK_URL.encode() not in raw_slack and b"secret" not in raw_slack
    assert b"gpt-4o-mini" in raw_llm  # only the secrets are sealed

    await eventually(lambda: _llm(other), lambda c: c is not None, what="llm config synced")
    assert other.get(LLM_CONFIG) == stored
    await eventually(lambda: _enabled(other), lambda e: "slack" in e, what="slack synced")
    assert enabled_notifications(other) == {"slack": WebhookConfig(webhook_url=SLACK_URL)}


async def _llm(s: AppSettings) -> LLMConfig | None:
    return s.get(LLM_CONFIG)


async def _enabled(s: AppSettings) -> dict[str, WebhookConfig]:
    return dict(enabled_notifications(s))


async def test_wrong_secret_reads_as_unset_and_old_secret_rotates(
    settings: AppSettings, js: JetStreamContext
) -> None:
    await settings.set(LLM_CONFIG, {"provider": "anthropic", "model": "claude", "api_key": API_KEY})
    wrong = await AppSettings.open(js, "another-secret-of-enough-length", keys=KEYS)
    assert wrong.get(LLM_CONFIG) is None
    assert "cannot decrypt" in wrong.problems()[LLM_CONFIG.name]
    assert API_KEY not in str(wrong.problems())
    await wrong.close()

    rotated = await AppSettings.open(
        js, "the-new-secret-0123456789", keys=KEYS, old_secrets=[SECRET]
    )
    config = rotated.get(LLM_CONFIG)
    assert config is not None and config.api_key == API_KEY
    await rotated.set(LLM_CONFIG, config)  # re-sealed with the new secret
    await rotated.close()
    await eventually(
        lambda: _problems(settings),
        lambda p: LLM_CONFIG.name in p,
        what="old secret no longer opens",
    )
    with pytest.raises(ValueError, match="at least 16 characters"):
        await AppSettings.open(js, "short", keys=KEYS)


async def _problems(s: AppSettings) -> dict[str, str]:
    return s.problems()


async def test_unreadable_stored_value_falls_back_to_default_and_recovers(
    settings: AppSettings, js: JetStreamContext
) -> None:
    kv = await js.key_value(BUCKET)
    async with settings.watch(MIRROR_TTL.name) as changes:
        await kv.put(MIRROR_TTL.name, b'{"seconds": 5}')  # written around the API
        assert (await changes.next(timeout=5)).value == MirrorTTL()
        assert settings.get(MIRROR_TTL).seconds == 180
        assert "seconds must be between" in settings.problems()[MIRROR_TTL.name]
        await settings.set(MIRROR_TTL, MirrorTTL(seconds=240))
        assert settings.get(MIRROR_TTL).seconds == 240 and settings.problems() == {}


async def test_masked_views_never_show_secrets(settings: AppSettings) -> None:
    await settings.set(
        LLM_CONFIG, LLMConfig(provider="openai", model="gpt-4o", api_key=API_KEY, base_url=None)
    )
    await settings.set(
        notification_key("discord"),
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
    config = settings.get(LLM_CONFIG)
    assert API_KEY not in repr(config) and API_KEY not in str(config)
    assert "token" not in repr(settings.get(NOTIFICATIONS["discord"]))
    assert enabled_notifications(settings) == {}  # discord is configured but disabled


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
    await settings.set(MIRROR_TTL, MirrorTTL(seconds=300), actor="alice")
    await other.apply(add_pattern(EXCLUDED_PODS, "test-*"), actor="bob")
    await settings.set(
        LLM_CONFIG, {"provider": "openai", "model": "gpt-4o", "api_key": API_KEY}, actor="alice"
    )
    await other.delete(LLM_CONFIG, actor="carol")
    await other.apply(remove_pattern(EXCLUDED_PODS, "test-*"), actor="bob")

    log = await settings.audit_log(limit=10)
    assert [(r.actor, r.action, r.key) for r in log] == [
        ("bob", "remove", EXCLUDED_PODS.name),
        ("carol", "delete", LLM_CONFIG.name),
        ("alice", "set", LLM_CONFIG.name),
        ("bob", "add", EXCLUDED_PODS.name),
        ("alice", "set", MIRROR_TTL.name),
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
    writer = await AppSettings.open(writer_conn.jetstream(), SECRET, keys=KEYS)
    reader = await AppSettings.open(reader_conn.jetstream(), SECRET, keys=KEYS)
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
        await s.set(MIRROR_TTL, MirrorTTL(seconds=seconds))
    except Exception:
        return False  # still reconnecting
    return True


def test_unparsable_url_is_a_validation_error() -> None:
    from kubeward.schemas.setting_key import SettingValidationError, check_url

    with pytest.raises(SettingValidationError, match="absolute http"):
        check_url("llm.config", "base_url", "http://[::1")


# --- The store is generic: keys defined here, none of the admin settings' ---------------


class Counter(msgspec.Struct, frozen=True, kw_only=True):
    n: int = 0


class Token(msgspec.Struct, frozen=True, kw_only=True):
    label: str
    value: str = ""


class Endpoint(msgspec.Struct, frozen=True, kw_only=True):
    token: Token
    limit: int = 10


def _check_endpoint(key: str, value: Endpoint) -> Endpoint:
    if value.limit < 1:
        raise SettingValidationError(key, "limit", f"must be >= 1, got {value.limit}")
    return msgspec.structs.replace(
        value, token=Token(label=value.token.label.strip(), value=value.token.value)
    )


COUNTER = SettingKey("test.counter", Counter, Counter())
ENDPOINT = SettingKey(
    "test.endpoint",
    Endpoint,
    check=_check_endpoint,
    secrets=(SecretField("token.value", mask_secret),),
)
TEST_KEYS = KeyRegistry((COUNTER, ENDPOINT))


@pytest.fixture
async def generic(js: JetStreamContext) -> AsyncIterator[AppSettings]:
    """A store of the test's own keys in its own bucket."""
    s = await AppSettings.open(js, SECRET, keys=TEST_KEYS, bucket="test-generic")
    yield s
    await s.close()


async def test_a_store_of_keys_defined_elsewhere(
    generic: AppSettings, js: JetStreamContext
) -> None:
    assert generic.get(COUNTER) == Counter() and generic.get(ENDPOINT) is None
    stored = await generic.set(ENDPOINT, {"token": {"label": " ci ", "value": API_KEY}}, actor="t")
    assert stored == Endpoint(token=Token(label="ci", value=API_KEY))
    raw = bytes((await (await js.key_value("test-generic")).get("test.endpoint")).value or b"")
    assert API_KEY.encode() not in raw
    assert msgspec.json.decode(raw)["token"]["value"].startswith("enc:v1:")
    assert generic.masked(ENDPOINT) == Endpoint(token=Token(label="ci", value="sk-***1234"))
    assert generic.masked_snapshot() == {
        "test.counter": {"n": 0},
        "test.endpoint": {"token": {"label": "ci", "value": "sk-***1234"}, "limit": 10},
    }
    with pytest.raises(SettingValidationError, match=r"Invalid test\.endpoint: limit must be >= 1"):
        await generic.set(ENDPOINT, {"token": {"label": "x"}, "limit": 0})

    reopened = await AppSettings.open(js, SECRET, keys=TEST_KEYS, bucket="test-generic")
    assert reopened.get(ENDPOINT) == stored  # decrypted on load
    await reopened.close()


async def test_unknown_keys_are_refused_and_ignored(generic: AppSettings) -> None:
    stray = SettingKey("test.stray", Counter, Counter())
    with pytest.raises(UnknownSettingError):
        generic.get(stray)
    with pytest.raises(UnknownSettingError):
        await generic.set(stray, Counter(n=1))
    with pytest.raises(UnknownSettingError):
        await generic.delete(stray)
    with pytest.raises(UnknownSettingError):
        generic.key("test.stray")
    assert generic.key("test.counter") is COUNTER
    # A value another process wrote under a key this store does not know is ignored.
    other = await AppSettings.open(
        generic._js, SECRET, keys=KeyRegistry((stray,)), bucket="test-generic"
    )
    await other.set(stray, Counter(n=5))
    await other.close()
    await generic.set(COUNTER, Counter(n=1))
    assert "test.stray" not in generic.masked_snapshot()
    with pytest.raises(ValueError, match="declared twice"):
        KeyRegistry((COUNTER, SettingKey("test.counter", Counter, Counter())))


async def test_modify_is_compare_and_set_and_audited_as_told(
    generic: AppSettings, nats_url: str
) -> None:
    conn = await nats.connect(nats_url)
    second = await AppSettings.open(conn.jetstream(), SECRET, keys=TEST_KEYS, bucket="test-generic")
    try:

        def bump(current: Counter) -> Counter:
            return Counter(n=current.n + 1)

        results = await asyncio.gather(
            *((generic if i % 2 else second).modify(COUNTER, bump, actor="bulk") for i in range(10))
        )
        assert all(results) and generic.get(COUNTER) == Counter(n=10)
        assert not await generic.modify(COUNTER, lambda _c: UNCHANGED)
        edit = SettingEdit(COUNTER, lambda c: Counter(n=c.n * 2), "double", {"by": 2})
        assert await generic.apply(edit, actor="eve")
        assert generic.get(COUNTER) == Counter(n=20)
        log = await generic.audit_log(limit=2)
        assert [(r.actor, r.action, r.key) for r in log] == [
            ("eve", "double", "test.counter"),
            ("bulk", "set", "test.counter"),
        ]
        assert log[0].details == {"by": 2, "revision": log[0].details["revision"]}
        assert log[1].details["value"] == {"n": 10}
        assert await generic.delete(COUNTER) and not await generic.delete(COUNTER)
        assert generic.get(COUNTER) == Counter()
    finally:
        await second.close()
        await conn.close()


# --- The store's parts without a server: the value codec and the cache -------------------


@pytest.fixture(scope="module")
def codec() -> SettingsCodec:
    return SettingsCodec(SecretBox(SECRET))


def test_codec_seals_only_the_secret_fields_and_opens_them(codec: SettingsCodec) -> None:
    value = Endpoint(token=Token(label="ci", value=API_KEY), limit=3)
    data = codec.encode(ENDPOINT, value)
    assert API_KEY.encode() not in data
    stored = msgspec.json.decode(data)
    assert stored["token"]["value"].startswith("enc:v1:")
    assert (stored["token"]["label"], stored["limit"]) == ("ci", 3)
    assert codec.decode(ENDPOINT, data) == value
    assert shown(ENDPOINT, value) == {"token": {"label": "ci", "value": "sk-***1234"}, "limit": 3}


def test_codec_refuses_what_it_cannot_read(codec: SettingsCodec) -> None:
    sealed = codec.encode(ENDPOINT, Endpoint(token=Token(label="ci", value=API_KEY)))
    other = SettingsCodec(SecretBox("another-secret-of-enough-length"))
    with pytest.raises(ValueError, match="cannot decrypt"):
        other.decode(ENDPOINT, sealed)
    rotated = SettingsCodec(SecretBox("the-new-secret-0123456789", [SECRET]))
    assert rotated.decode(ENDPOINT, sealed).token.value == API_KEY

    invalid = b'{"token": {"label": "x"}, "limit": 0}'  # stored around the validator
    with pytest.raises(SettingValidationError, match="limit must be >= 1, got 0"):
        codec.decode(ENDPOINT, invalid)
    unsealed = b'{"token": {"label": "x", "value": "plain"}}'
    with pytest.raises(ValueError, match="not sealed"):
        codec.decode(ENDPOINT, unsealed)
    for data in (b"not json", b'{"token": 1}', invalid, unsealed):
        with pytest.raises(UNREADABLE):
            codec.decode(ENDPOINT, data)


async def test_cache_takes_only_newer_revisions_and_reports_each_once() -> None:
    cache = SettingsCache()
    heard: list[SettingChange] = []
    watch = cache.watch("test.")
    other_prefix = cache.watch("other.")
    unsubscribe = cache.on_change(heard.append, prefix="test.counter")

    cache.apply(COUNTER, 2, Counter(n=2))
    cache.apply(COUNTER, 1, Counter(n=1))  # older: the watch replaying, say
    cache.apply(COUNTER, 2, Counter(n=9))  # the same revision again
    assert cache.value(COUNTER.name) == Counter(n=2) and cache.revision(COUNTER.name) == 2

    cache.apply(COUNTER, 3, None, "stored value unreadable: boom")
    assert not cache.has(COUNTER.name)
    assert cache.problems() == {COUNTER.name: "stored value unreadable: boom"}
    with pytest.raises(KeyError):
        cache.value(COUNTER.name)
    unsubscribe()
    cache.apply(COUNTER, 4, Counter(n=4))
    assert cache.problems() == {} and cache.has(COUNTER.name)

    cache.close_watches()
    changes = [(c.value, c.revision, c.deleted) async for c in watch]
    assert changes == [(Counter(n=2), 2, False), (Counter(), 3, True), (Counter(n=4), 4, False)]
    assert [(c.value, c.revision) for c in heard] == [(Counter(n=2), 2), (Counter(), 3)]
    assert [c async for c in other_prefix] == []


async def test_a_failing_callback_does_not_stop_the_others() -> None:
    cache = SettingsCache()
    heard: list[int] = []

    def broken(_change: SettingChange) -> None:
        raise RuntimeError("callback bug")

    cache.on_change(broken)
    cache.on_change(lambda c: heard.append(c.revision))
    cache.apply(COUNTER, 1, Counter(n=1))
    assert heard == [1] and cache.value(COUNTER.name) == Counter(n=1)
