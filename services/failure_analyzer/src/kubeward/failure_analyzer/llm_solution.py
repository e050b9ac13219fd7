"""The LLM's solution for a failed pod, built on the offline findings, with a fallback.

:func:`llm_solution` redacts the report (:mod:`kubeward.failure_analyzer.redaction`),
asks the configured model for a Markdown answer with ``## Root Cause``, ``## Fix`` and
``## Verify`` sections, and returns it. When the model fails — an :class:`LLMError`, a
timeout, an answer without the sections, anything unexpected — the offline answer is
returned instead, under a one-line blockquote that says why, marked ``offline-fallback``.

What leaves for the model: the pod's facts (reason, message, phase, node, container
statuses, the last events, the log tail, the manifest without its noise) and the offline
analyzers' findings, each section bounded, the whole prompt under :data:`MAX_PROMPT`
bytes, and all of it — system prompt included — passed through the redactor last.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Final

import httpx
import msgspec
import yaml

from kubeward.failure_analyzer import metrics
from kubeward.failure_analyzer.findings import Diagnosis, Finding
from kubeward.failure_analyzer.redaction import Redactor, encode_log_block, read_log_block
from kubeward.integrations.llm import LLMError, complete
from kubeward.schemas.pod_failures import (
    ContainerStatus,
    FailureLogEntry,
    PodFailureReport,
    SolutionSource,
)
from kubeward.schemas.settings import LLMConfig

__all__ = ["MAX_PROMPT", "SYSTEM_PROMPT", "SolutionOutcome", "build_prompt", "llm_solution"]

log = logging.getLogger(__name__)

MAX_PROMPT: Final = 24 * 1024
"""UTF-8 bytes of the user prompt, at most."""
MAX_TOKENS: Final = 1500
MAX_LOGS: Final = 6 * 1024
"""Bytes of log tail in the prompt (previous instance and current logs together)."""
MAX_MANIFEST: Final = 6 * 1024
MAX_FINDINGS: Final = 5 * 1024
MAX_EVENTS: Final = 15
MAX_LINE: Final = 400
"""Characters of one message (event, status) in the prompt."""
_SCAN_LOGS: Final = 64 * 1024
"""Log bytes kept (and redacted) before the tail for the prompt is cut from them."""
_ERROR_LEN: Final = 300
_ROOT_CAUSE = "## Root Cause"

SYSTEM_PROMPT: Final = """\
You are a senior Kubernetes site reliability engineer helping an operator fix a failed pod.
You are given facts collected from the cluster (pod status, container statuses, events,
logs, manifest) and the findings of kubeward's offline rule-based analyzers. Secrets in the
facts were replaced with [REDACTED]: never guess them or ask for them.

Answer in Markdown with exactly these three sections, in this order, and nothing else:

## Root Cause
What is wrong and why the pod fails, naming the evidence (event, log line, status) it
rests on.

## Fix
Numbered steps, the most likely fix first, with concrete kubectl commands that use the
pod's real name and namespace.

## Verify
kubectl commands, in a ```bash block, that show whether the fix worked.

Rules:
- Use only facts present in the input. Do not invent resource names, values, versions,
  log lines or events. When the evidence is not enough to be sure, say what is missing
  and give the kubectl command that would show it.
- Build on the offline findings: confirm them, or say why they are wrong.
- Be brief: no preamble, no closing remarks.
"""


class SolutionOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What :func:`llm_solution` produced: the Markdown ``solution``, where it came from,
    and, for ``offline-fallback``, why the LLM's answer was not used (never the API key)."""

    solution: str
    source: SolutionSource
    error: str | None = None


class _BadAnswerError(Exception):
    def __init__(self, why: str, detail: str) -> None:
        super().__init__(detail)
        self.why = why
        self.detail = detail


async def llm_solution(
    config: LLMConfig,
    report: PodFailureReport,
    diagnosis: Diagnosis,
    offline: str,
    *,
    timeout: float,
    client: httpx.AsyncClient | None = None,
) -> SolutionOutcome:
    """Ask ``config``'s model to diagnose ``report``, giving it ``diagnosis``; on any
    failure return ``offline`` (the offline Markdown) with a note saying why.

    ``timeout`` bounds the call in seconds; ``client`` shares a connection pool. Never
    raises (except on cancellation).
    """
    label = _label(config)
    try:
        redactor = Redactor.from_report(report)
        system = redactor.text(SYSTEM_PROMPT)
        prompt = redactor.text(build_prompt(redactor.report(_logs_tail(report)), diagnosis))
        async with asyncio.timeout(timeout + 1):  # complete() keeps to timeout; a backstop
            completion = await complete(
                config,
                system,
                prompt,
                timeout=timeout,
                max_tokens=MAX_TOKENS,
                client=client,
                metrics=metrics.LLM,
            )
        text = completion.text.strip()
        if not text:
            raise _BadAnswerError("gave an empty answer", f"{label}: empty answer")
        if _ROOT_CAUSE not in text:
            raise _BadAnswerError(
                "gave an answer without the expected sections",
                f"{label}: the answer has no '{_ROOT_CAUSE}' section",
            )
    except LLMError as exc:
        return _fallback(config, report, offline, _why(exc, timeout), exc.message)
    except _BadAnswerError as exc:
        return _fallback(config, report, offline, exc.why, exc.detail)
    except TimeoutError:
        why = f"did not answer within {timeout:g}s"
        return _fallback(config, report, offline, why, f"{label}: no answer within {timeout:g}s")
    except Exception as exc:  # the offline answer must be served, whatever went wrong
        log.exception(
            "LLM solution for %s/%s failed unexpectedly", report.namespace, report.pod_name
        )
        name = type(exc).__name__
        return _fallback(config, report, offline, f"failed ({name})", f"internal error: {name}")
    return SolutionOutcome(solution=text, source="llm")


def _logs_tail(report: PodFailureReport) -> PodFailureReport:
    """``report`` with only the logs' tails the prompt can use (:data:`_SCAN_LOGS` bytes,
    from a line start), so redaction does not scan megabytes it would throw away."""
    logs = report.logs
    if logs is not None and len(logs) > _SCAN_LOGS:
        logs = _tail(logs, _SCAN_LOGS)
    failure_logs = report.failure_logs
    if failure_logs is not None:
        containers = {}
        for name, entry in failure_logs.containers.items():
            text = None if entry.previous is None else read_log_block(entry.previous, _SCAN_LOGS)
            previous = None if text is None else encode_log_block(text, like=entry.previous)
            containers[name] = FailureLogEntry(previous=previous, error=entry.error)
        failure_logs = msgspec.structs.replace(failure_logs, containers=containers)
    return msgspec.structs.replace(report, logs=logs, failure_logs=failure_logs)


def _label(config: LLMConfig) -> str:
    provider = _one_line(config.provider.strip().lower(), 40) or "?"
    model = _one_line(config.model.strip(), 80) or "?"
    return f"{provider}, {model}"


def _why(exc: LLMError, timeout: float) -> str:
    """Why the LLM failed, for the blockquote above the offline answer."""
    status = f" (HTTP {exc.status})" if exc.status is not None else ""
    if exc.kind == "timeout":
        return f"did not answer within {timeout:g}s" if exc.status is None else f"timed out{status}"
    if exc.kind == "auth":
        return f"rejected the API key{status}"
    if exc.kind == "rate_limited":
        return f"is rate-limiting requests{status}"
    if exc.kind == "unavailable":
        return f"is unavailable{status}" if status else "could not be reached"
    if exc.kind == "bad_response":
        return f"sent a reply that could not be read{status}"
    return f"is not configured correctly{status}"


def _fallback(
    config: LLMConfig, report: PodFailureReport, offline: str, why: str, detail: str
) -> SolutionOutcome:
    error = _no_key(_one_line(detail, _ERROR_LEN), config.api_key)
    note = _no_key(f"> Offline diagnosis: the LLM ({_label(config)}) {why}.", config.api_key)
    log.warning(
        "LLM solution for %s/%s falls back to the offline diagnosis: %s",
        report.namespace,
        report.pod_name,
        error,
    )
    return SolutionOutcome(
        solution=f"{note}\n\n{offline.strip()}\n", source="offline-fallback", error=error
    )


def _no_key(text: str, key: str) -> str:
    # The LLM client already masks the key in its messages; this covers everything else.
    return text.replace(key, "[REDACTED]") if len(key) >= 4 else text


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --- The prompt -------------------------------------------------------------------------


def build_prompt(report: PodFailureReport, diagnosis: Diagnosis) -> str:
    """The user prompt for a (redacted) report: facts, findings, logs, manifest, each
    bounded, the whole at most :data:`MAX_PROMPT` UTF-8 bytes."""
    parts = [
        "A Kubernetes pod failed. Diagnose it from the facts below.",
        _pod_section(report),
        _statuses_section(report),
        _events_section(report),
        _findings_section(diagnosis),
        _logs_section(report),
        _manifest_section(report.manifest),
    ]
    prompt = "\n\n".join(p for p in parts if p) + "\n"
    return _cut_bytes(prompt, MAX_PROMPT)


def _pod_section(report: PodFailureReport) -> str:
    lines = [
        "## Pod",
        f"- Name: {report.pod_name}",
        f"- Namespace: {report.namespace}",
    ]
    facts = (
        ("Phase", report.phase),
        ("Node", report.node_name),
        ("Created", report.creation_timestamp),
        ("Failure reason", report.failure_reason),
        ("Failure message", report.failure_message),
    )
    lines += [f"- {name}: {_one_line(value, MAX_LINE)}" for name, value in facts if value]
    return "\n".join(lines)


def _status_line(status: ContainerStatus, init: bool) -> str:
    bits = [f"- {'init container' if init else 'container'} {status.name or '?'}:"]
    if status.state:
        bits.append(f"state {status.state}")
    if status.reason:
        bits.append(f"reason {status.reason}")
    if status.exit_code is not None:
        bits.append(f"exit code {status.exit_code}")
    if status.ready is not None:
        bits.append(f"ready {str(status.ready).lower()}")
    if status.restart_count is not None:
        bits.append(f"restarts {status.restart_count}")
    if status.last_state or status.last_reason or status.last_exit_code is not None:
        last = [status.last_state or "", status.last_reason or ""]
        if status.last_exit_code is not None:
            last.append(f"exit code {status.last_exit_code}")
        bits.append("previous: " + " ".join(b for b in last if b))
    if status.image:
        bits.append(f"image {status.image}")
    line = ", ".join(bits[1:])
    if status.message:
        line += f"; message: {_one_line(status.message, MAX_LINE)}"
    return f"{bits[0]} {line}"


def _statuses_section(report: PodFailureReport) -> str:
    lines = [_status_line(s, True) for s in report.init_container_statuses or []]
    lines += [_status_line(s, False) for s in report.container_statuses or []]
    return "## Container statuses\n" + "\n".join(lines) if lines else ""


def _events_section(report: PodFailureReport) -> str:
    events = (report.events or [])[-MAX_EVENTS:]
    if not events:
        return ""
    lines = []
    for event in events:
        count = f" (x{event.count})" if event.count and event.count > 1 else ""
        head = " ".join(b for b in (event.timestamp, event.type, event.reason) if b)
        lines.append(f"- {head}{count}: {_one_line(event.message or '', MAX_LINE)}")
    return f"## Events (last {len(events)}, oldest first)\n" + "\n".join(lines)


def _finding_text(n: int, finding: Finding) -> str:
    lines = [
        f"### {n}. {finding.title}",
        f"- Analyzer: {finding.analyzer} (confidence {finding.confidence:.2f})",
        f"- Root cause: {finding.root_cause.strip()}",
    ]
    if finding.fix:
        lines.append("- Fix:")
        lines += [f"  {i}. {step.strip()}" for i, step in enumerate(finding.fix, 1)]
    if finding.verify:
        lines.append("- Verify: " + "; ".join(f"`{c}`" for c in finding.verify))
    if finding.evidence:
        lines.append("- Evidence:")
        lines += [f"  - {e.source}: {_one_line(e.detail, MAX_LINE)}" for e in finding.evidence]
    return "\n".join(lines)


def _findings_section(diagnosis: Diagnosis) -> str:
    head = "## Offline analyzer findings (most confident first)"
    if not diagnosis.findings:
        return head + "\nNone of the offline analyzers matched this failure."
    body = "\n\n".join(_finding_text(n, f) for n, f in enumerate(diagnosis.findings, 1))
    return head + "\n" + _cut_bytes(body, MAX_FINDINGS)


def _logs_section(report: PodFailureReport) -> str:
    sources: list[tuple[str, str]] = []
    if report.failure_logs is not None:
        for name, entry in report.failure_logs.containers.items():
            if entry.previous is not None:
                text = read_log_block(entry.previous, _SCAN_LOGS)
                if text and text.strip():
                    sources.append((f"previous instance of container {name}", text))
    if report.logs and report.logs.strip():
        sources.append(("current logs", report.logs))
    if not sources:
        return ""
    share = MAX_LOGS // len(sources)
    blocks = []
    for title, text in sources:
        tail = _tail(text, share)
        fence = _fence(tail)
        blocks.append(
            f"### {title} (last {len(tail.encode())} bytes)\n{fence}text\n{tail}\n{fence}"
        )
    return "## Logs\n" + "\n\n".join(blocks)


def _manifest_section(manifest: str | None) -> str:
    if not manifest or not manifest.strip():
        return ""
    text = _compact_manifest(manifest)
    cut = _cut_bytes(text, MAX_MANIFEST)
    note = "" if cut == text else " (truncated)"
    fence = _fence(cut)
    return f"## Manifest{note}\n{fence}yaml\n{cut.rstrip()}\n{fence}"


_NOISE: Final = frozenset({"managedFields", "managed_fields", "status"})
_NOISE_ANNOTATIONS = re.compile(r"last-applied-configuration$")


def _compact_manifest(manifest: str) -> str:
    """The manifest without what does not help a diagnosis: nulls, empty values,
    ``managedFields``, ``status`` (the statuses are listed above) and the
    last-applied copy of the manifest."""
    try:
        tree = yaml.safe_load(manifest)
        if not isinstance(tree, dict):
            return manifest
        return yaml.safe_dump(_prune(tree, 0), sort_keys=False, allow_unicode=True, width=200)
    except Exception:  # not YAML (or too deep): the text as it came
        return manifest


def _prune(node: Any, depth: int) -> Any:
    if depth > 40:
        return node
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if (depth == 0 and key in _NOISE) or key in ("managedFields", "managed_fields"):
                continue
            if key == "annotations" and isinstance(value, dict):
                value = {k: v for k, v in value.items() if not _NOISE_ANNOTATIONS.search(str(k))}
            pruned = _prune(value, depth + 1)
            if pruned is None or pruned in ({}, [], ""):
                continue
            out[key] = pruned
        return out
    if isinstance(node, list):
        return [_prune(item, depth + 1) for item in node]
    return node


def _tail(text: str, limit: int) -> str:
    """The last ``limit`` UTF-8 bytes of ``text``, from a line start when cut."""
    raw = text.encode()
    if len(raw) <= limit:
        return text.rstrip()
    tail = raw[-limit:].decode("utf-8", errors="ignore")
    newline = tail.find("\n")
    return (tail[newline + 1 :] if 0 <= newline < len(tail) - 1 else tail).rstrip()


def _cut_bytes(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` UTF-8 bytes (a marker included), at a line end if one is
    near."""
    raw = text.encode()
    if len(raw) <= limit:
        return text
    marker = "\n…[truncated]\n"
    head = raw[: limit - len(marker.encode())].decode("utf-8", errors="ignore")
    newline = head.rfind("\n")
    if newline > len(head) - 400:
        head = head[:newline]
    return head + marker


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in ``text``."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)
