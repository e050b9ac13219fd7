"""Every sample report's manifest takes the fast YAML path and reads as the safe loader
reads it (timestamps kept as text, as the analyzers want them)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import yaml

from kubeward.core.manifest_yaml import FastYaml, TimestampAsTextLoader
from kubeward.schemas.pod_failures import PodFailureReport

REPORTS = Path(__file__).parent / "reports"


@pytest.mark.parametrize("name", sorted(p.stem for p in REPORTS.glob("*.json")))
def test_fast_yaml_equals_loader_on_reports(name: str) -> None:
    report = msgspec.json.decode((REPORTS / f"{name}.json").read_bytes(), type=PodFailureReport)
    text = report.manifest or ""
    assert FastYaml(text).parse() == yaml.load(text, Loader=TimestampAsTextLoader)
