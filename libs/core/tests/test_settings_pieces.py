"""The settings store's parts without a server: the value codec and the cache."""

from __future__ import annotations

import msgspec
import pytest

from kubeward.core.secret_box import SecretBox
from kubeward.core.settings_cache import SettingsCache
from kubeward.core.settings_codec import UNREADABLE, SettingsCodec, shown
from kubeward.core.settings_watch import SettingChange
from kubeward.schemas.setting_key import (
    SecretField,
    SettingKey,
    SettingValidationError,
    mask_secret,
)

SECRET = "test-settings-secret-0123456789"
API_KEY = "sk-live-abcdefghijklmnopqrstuvwxyz1234"


class Token(msgspec.Struct, frozen=True, kw_only=True):
    label: str
    value: str = ""


class Endpoint(msgspec.Struct, frozen=True, kw_only=True):
    token: Token
    limit: int = 10


def _check_endpoint(key: str, value: Endpoint) -> Endpoint:
    if value.limit < 1:
        raise SettingValidationError(key, "limit", f"must be >= 1, got {value.limit}")
    return value


class Counter(msgspec.Struct, frozen=True, kw_only=True):
    n: int = 0


ENDPOINT = SettingKey(
    "test.endpoint",
    Endpoint,
    check=_check_endpoint,
    secrets=(SecretField("token.value", mask_secret),),
)
COUNTER = SettingKey("test.counter", Counter, Counter())


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
