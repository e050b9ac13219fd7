"""The admin settings' contracts, without a store: keys, validation, masking, edits."""

from __future__ import annotations

import msgspec
import pytest

from kubeward.schemas.setting_key import (
    UNCHANGED,
    KeyRegistry,
    SecretField,
    SettingKey,
    SettingValidationError,
    UnknownSettingError,
    mask_url,
)
from kubeward.schemas.settings import (
    EXCLUDED_PODS,
    EXCLUDED_RULES,
    KEYS,
    LLM_CONFIG,
    MIRROR_TTL,
    NOTIFICATIONS,
    LLMConfig,
    MirrorTTL,
    NotificationSetting,
    Patterns,
    RuleExclusion,
    RuleExclusions,
    WebhookConfig,
    add_pattern,
    add_rule,
    notification_key,
    reference_key,
    reference_scalar,
    reference_value,
    remove_pattern,
    remove_rule,
)


def test_the_registry_holds_every_key_by_its_wire_name() -> None:
    assert list(KEYS) == [
        "retention.history_minutes",
        "retention.ignored_minutes",
        "mirror.ttl_seconds",
        "exclusions.namespaces",
        "exclusions.pods",
        "exclusions.rules",
        "llm.config",
        "notifications.slack",
        "notifications.teams",
        "notifications.discord",
        "notifications.webhook",
    ]
    assert KEYS["llm.config"] is LLM_CONFIG and notification_key("teams") is NOTIFICATIONS["teams"]
    with pytest.raises(UnknownSettingError, match="Unknown setting: nope"):
        KEYS["nope"]


def test_validate_converts_builtins_and_names_key_and_field() -> None:
    assert MIRROR_TTL.validate({"seconds": "300"}) == MirrorTTL(seconds=300)
    assert MIRROR_TTL.default == MirrorTTL() and LLM_CONFIG.default is None
    with pytest.raises(SettingValidationError) as info:
        MIRROR_TTL.validate({"seconds": 5})
    assert (info.value.key, info.value.field) == ("mirror.ttl_seconds", "seconds")
    assert EXCLUDED_PODS.validate({"patterns": [" a-* ", "a-*"]}) == Patterns(patterns=("a-*",))


def test_secret_fields_are_masked_nested_or_not() -> None:
    llm = LLMConfig(provider="openai", model="m", api_key="sk-abcdefgh1234")
    assert LLM_CONFIG.masked(llm) == llm.masked()
    url = "https://hooks.slack.com/services/T000/B000/secretwxyz"
    slack = NotificationSetting(config=WebhookConfig(webhook_url=url))
    assert NOTIFICATIONS["slack"].masked(slack) == slack.masked()
    assert NOTIFICATIONS["slack"].masked(None) is None
    assert msgspec.to_builtins(slack.masked())["config"]["webhook_url"] == mask_url(url)


def test_a_key_defined_anywhere() -> None:
    class Pair(msgspec.Struct, frozen=True):
        left: str
        right: str = ""

    key = SettingKey("x.pair", Pair, check=None, secrets=(SecretField("right", str.upper),))
    assert key.validate({"left": "a", "right": "b"}) == Pair("a", "b")
    assert key.masked(Pair("a", "b")) == Pair("a", "B")
    with pytest.raises(ValueError, match="declared twice"):
        KeyRegistry((key, key))


def test_pattern_and_rule_edits() -> None:
    edit = add_pattern(EXCLUDED_PODS, " test-* ")
    assert (edit.key, edit.action, edit.details) == (EXCLUDED_PODS, "add", {"pattern": "test-*"})
    assert edit.change(Patterns()) == Patterns(patterns=("test-*",))
    assert edit.change(Patterns(patterns=("test-*",))) is UNCHANGED
    with pytest.raises(SettingValidationError, match=r"Invalid exclusions\.pods: pattern"):
        add_pattern(EXCLUDED_PODS, "bad pattern")
    gone = remove_pattern(EXCLUDED_PODS, "test-*")
    assert gone.change(Patterns(patterns=("a", "test-*"))) == Patterns(patterns=("a",))
    assert gone.change(Patterns()) is UNCHANGED

    rule = RuleExclusion(rule_title=" host-network ", namespace="shop", created_at="t")
    added = add_rule(rule)
    assert added.key is EXCLUDED_RULES
    assert added.details == {"rule_title": "host-network", "namespace": "shop"}
    stored = added.change(RuleExclusions())
    assert stored == RuleExclusions(
        rules=(RuleExclusion(rule_title="host-network", namespace="shop", created_at="t"),)
    )
    assert isinstance(stored, RuleExclusions) and added.change(stored) is UNCHANGED
    assert remove_rule("host-network").change(stored) is UNCHANGED  # global: another scope
    assert remove_rule("host-network", "shop").change(stored) == RuleExclusions()


def test_reference_names() -> None:
    assert reference_key("mirror-ttl") is MIRROR_TTL
    assert reference_scalar(reference_value("history_retention_minutes", "10080")) == 10080
    with pytest.raises(SettingValidationError, match="Invalid mirror-ttl: seconds"):
        reference_value("mirror-ttl", 5)
    with pytest.raises(UnknownSettingError):
        reference_key("nope")
