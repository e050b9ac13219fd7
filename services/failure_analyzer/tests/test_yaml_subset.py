"""The fast YAML-subset parser equals the safe loader exactly, or steps aside for it."""

from __future__ import annotations

import random
import string
from pathlib import Path

import msgspec
import pytest
import yaml

from kubeward.failure_analyzer.report_view.yaml_subset import (
    FastYaml,
    TimestampAsTextLoader,
    UnsupportedYamlError,
    load_yaml,
)
from kubeward.schemas.pod_failures import PodFailureReport

REPORTS = Path(__file__).parent / "reports"


@pytest.mark.parametrize("name", sorted(p.stem for p in REPORTS.glob("*.json")))
def test_fast_yaml_equals_loader_on_reports(name: str) -> None:
    report = msgspec.json.decode((REPORTS / f"{name}.json").read_bytes(), type=PodFailureReport)
    text = report.manifest or ""
    assert FastYaml(text).parse() == yaml.load(text, Loader=TimestampAsTextLoader)


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
                pass
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
