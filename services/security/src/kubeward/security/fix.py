"""AI fixes for findings: an LLM rewrites the manifest, or the check's own remediation.

The answer has Kure's shape: ``{finding_id, original_manifest, fixed_manifest, diff,
explanation, is_fallback}``. Before the manifest leaves for the LLM, every literal env
value and the data of any Secret are replaced by ``[REDACTED]``, as are annotations whose
names look secret; the LLM never sees them and the fixed manifest keeps the placeholders.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Mapping
from typing import Any

import httpx
import msgspec
import yaml

from kubeward.integrations.llm import LLMError, complete
from kubeward.schemas.settings import LLMConfig
from kubeward.security import metrics
from kubeward.security.scanner import CHECKS

log = logging.getLogger(__name__)

REDACTED = "[REDACTED]"
SYSTEM = (
    "You are a Kubernetes security engineer. Fix the one security finding you are given in "
    "the manifest, changing nothing else. Answer with the complete fixed manifest in one "
    "```yaml block, then a short Markdown explanation of each change. Keep [REDACTED] "
    "values as they are."
)
_YAML_BLOCK = re.compile(r"```(?:yaml|yml)?\s*\n(.*?)```", re.DOTALL)
_SECRET_NAME = re.compile(r"secret|password|passwd|token|key|credential", re.IGNORECASE)


class FixAnswer(msgspec.Struct, kw_only=True):
    """Kure's answer to ``POST /api/security/findings/{id}/fix``."""

    finding_id: int
    original_manifest: str
    fixed_manifest: str
    diff: list[dict[str, str]]
    explanation: str
    is_fallback: bool
    error: str | None = None


def redact(obj: Any) -> Any:
    """A copy of a manifest with env values, Secret data and secret-looking annotations
    replaced by ``[REDACTED]``."""
    if isinstance(obj, list):
        return [redact(item) for item in obj]
    if not isinstance(obj, dict):
        return obj
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key in ("env",) and isinstance(value, list):
            out[key] = [
                {**e, "value": REDACTED} if isinstance(e, dict) and "value" in e else redact(e)
                for e in value
            ]
        elif key in ("data", "stringData") and obj.get("kind") == "Secret":
            out[key] = {k: REDACTED for k in (value or {})}
        elif key == "annotations" and isinstance(value, dict):
            out[key] = {
                k: REDACTED if _SECRET_NAME.search(k) or "last-applied" in k else v
                for k, v in value.items()
            }
        else:
            out[key] = redact(value)
    return out


def to_yaml(obj: Any) -> str:
    """A manifest as YAML, keys in their order."""
    return str(yaml.safe_dump(obj, sort_keys=False, default_flow_style=False))


def diff_lines(original: str, fixed: str) -> list[dict[str, str]]:
    """Kure's diff: ``[{"content": line, "type": "unchanged"|"removed"|"added"}]``."""
    out: list[dict[str, str]] = []
    before, after = original.splitlines(), fixed.splitlines()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, before, after).get_opcodes():
        if tag == "equal":
            out += [{"content": line, "type": "unchanged"} for line in before[i1:i2]]
            continue
        out += [{"content": line, "type": "removed"} for line in before[i1:i2]]
        out += [{"content": line, "type": "added"} for line in after[j1:j2]]
    return out


def fallback(finding: Mapping[str, Any], original: str, why: str | None) -> FixAnswer:
    """The check's own remediation, as the explanation (no rewritten manifest)."""
    check = CHECKS.get(str(finding.get("check_name")))
    parts = [f"**{finding.get('title') or finding.get('check_name')}**", ""]
    parts.append(str(finding.get("remediation") or (check.remediation if check else "")))
    if finding.get("json_path"):
        parts += ["", f"Field: `{finding['json_path']}`"]
    if why:
        parts = [f"> Offline remediation: {why}", "", *parts]
    return FixAnswer(
        finding_id=int(finding["_id"]),
        original_manifest=original,
        fixed_manifest="",
        diff=[],
        explanation="\n".join(parts).strip(),
        is_fallback=True,
        error=why,
    )


async def fix(
    config: LLMConfig | None,
    finding: Mapping[str, Any],
    manifest: Mapping[str, Any] | None,
    *,
    timeout: float,
    client: httpx.AsyncClient | None = None,
) -> FixAnswer:
    """Ask the LLM for a fixed manifest; the check's remediation when it cannot help."""
    original = to_yaml(redact(dict(manifest))) if manifest else ""
    if config is None:
        return fallback(finding, original, None)
    if not manifest:
        return fallback(finding, original, "no manifest is stored for this resource")
    prompt = (
        f"Finding: {finding.get('title')} ({finding.get('check_name')}, "
        f"severity {finding.get('severity')})\n{finding.get('message')}\n"
        f"Field: {finding.get('json_path') or 'n/a'}\n"
        f"Suggested remediation: {finding.get('remediation')}\n\nManifest:\n```yaml\n{original}```"
    )
    try:
        completion = await complete(
            config, SYSTEM, prompt, timeout=timeout, client=client, metrics=metrics.LLM
        )
    except LLMError as exc:
        return fallback(finding, original, f"the LLM ({config.provider}) failed: {exc.message}")
    text = completion.text.strip()
    match = _YAML_BLOCK.search(text)
    if match is None:
        return fallback(finding, original, "the LLM answered without a manifest")
    fixed = match.group(1).strip() + "\n"
    try:
        yaml.safe_load(fixed)
    except yaml.YAMLError:
        return fallback(finding, original, "the LLM's manifest is not valid YAML")
    explanation = _YAML_BLOCK.sub("", text).strip() or str(finding.get("remediation") or "")
    return FixAnswer(
        finding_id=int(finding["_id"]),
        original_manifest=original,
        fixed_manifest=fixed,
        diff=diff_lines(original, fixed),
        explanation=explanation,
        is_fallback=False,
    )
