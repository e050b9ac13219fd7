"""The fast YAML-subset parser equals the safe loader exactly, or steps aside for it
(failure-analyzer's and security's tests check it on their sample reports too)."""

from __future__ import annotations

import random
import string
from datetime import UTC, date, datetime

import pytest
import yaml

from kubeward.core.manifest_yaml import (
    FastYaml,
    TimestampAsTextLoader,
    UnsupportedYamlError,
    load_yaml,
)

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _random_scalar(rng: random.Random) -> object:
    kind = rng.randrange(9)
    if kind == 0:
        return rng.randint(-5, 10**6)
    if kind == 1:
        return rng.choice([True, False, None, 1.5, "yes", "null", "123", "0o17", "1e3", ""])
    if kind == 2:
        return rng.choice(["a: b", "- x", "#c", "x #y", "'q'", '"d"', "{}", "[]", "&a", "*b"])
    alphabet = string.ascii_letters + string.digits + " :-_./'\"#{}[],!&*?|>%@`"
    words = [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        for _ in range(rng.randint(1, 25))
    ]
    return " ".join(words)


def _random_doc(rng: random.Random, depth: int = 0) -> object:
    if depth > 3 or rng.random() < 0.3:
        return _random_scalar(rng)
    if rng.random() < 0.5:
        return [_random_doc(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {
        rng.choice(["name", "image", "a_b", "x.y/z", "key", "message"]) + str(i): _random_doc(
            rng, depth + 1
        )
        for i in range(rng.randint(0, 5))
    }


def test_fast_yaml_equals_loader_on_random_documents() -> None:
    rng = random.Random(20250314)
    fast = 0
    for _ in range(400):
        doc = {"root": _random_doc(rng)}
        for text in (
            yaml.safe_dump(doc, default_flow_style=False, sort_keys=False),
            yaml.safe_dump(doc, default_flow_style=False, sort_keys=False, width=40),
        ):
            expected = yaml.load(text, Loader=TimestampAsTextLoader)
            assert load_yaml(text) == expected, text
            try:
                assert FastYaml(text).parse() == expected, text
                fast += 1
            except UnsupportedYamlError:
                continue
            assert FastYaml(text, timestamps=True).parse() == yaml.load(text, SAFE_LOADER), text
    assert fast > 400  # most documents take the fast path


@pytest.mark.parametrize(
    "text",
    [
        "a: |\n  line1\n  line2\n",
        "a: {b: 1}\n",
        "a: [1, 2]\n",
        "a: &x 1\nb: *x\n",
        'a: "tab\\there"\n',
        "a: !!str 5\n",
        "a: 0x1F\n",
        "? complex\n: value\n",
        "a: 1\n\nb: 2\n",
        "---\na: 1\n",
        "a:\n- 1\n-   - 2\n",
    ],
)
def test_unsupported_yaml_falls_back_to_loader(text: str) -> None:
    assert load_yaml(text) == yaml.load(text, Loader=TimestampAsTextLoader)


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",
        # PyYAML's dump of a Kubernetes client object anchors a timestamp used twice.
        "metadata:\n  creation_timestamp: &id001 2026-03-02 07:42:00.226190+00:00\n"
        "status:\n  start_time: *id001\n",
        "a: &x foo\n  bar\nb:\n- *x\n- &y 'q'\nc: *y\n",
    ],
)
def test_fast_yaml_reads_anchored_scalars(text: str) -> None:
    assert FastYaml(text).parse() == yaml.load(text, Loader=TimestampAsTextLoader)


@pytest.mark.parametrize(
    "text",
    [
        # The Kubernetes client's to_dict() dumped by PyYAML, and kubectl's RFC 3339 forms.
        "metadata:\n  creation_timestamp: &id001 2026-03-02 07:42:00.226190+00:00\n"
        "status:\n  start_time: *id001\n",
        "metadata:\n  creationTimestamp: 2026-03-02T07:42:00Z\n",
        "a: 2026-03-02T07:42:00.5+02:00\nb: 2026-03-02\nc: '2026-03-02'\nd: 2026-3-2\n",
        "items:\n- 2001-12-14t21:59:43.10-05:00\n- 2001-12-14 21:59:43.10 -5\n- 20260302\n",
    ],
)
def test_timestamps_become_what_the_safe_loader_makes(text: str) -> None:
    expected = yaml.load(text, SAFE_LOADER)
    assert FastYaml(text, timestamps=True).parse() == expected
    assert FastYaml(text).parse() == yaml.load(text, Loader=TimestampAsTextLoader)


def test_timestamps_are_datetimes_only_when_asked() -> None:
    text = "at: 2026-03-02T07:42:00Z\non: 2026-03-02\nname: '2026-03-02'\n"
    assert FastYaml(text, timestamps=True).parse() == {
        "at": datetime(2026, 3, 2, 7, 42, tzinfo=UTC),
        "on": date(2026, 3, 2),
        "name": "2026-03-02",
    }
    assert FastYaml(text).parse() == {
        "at": "2026-03-02T07:42:00Z",
        "on": "2026-03-02",
        "name": "2026-03-02",
    }
