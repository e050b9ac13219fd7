"""Run the offline analyzers over a report and render the best finding as Markdown."""

from __future__ import annotations

import logging

from kubeward.failure_analyzer.analyzers import ANALYZERS, FALLBACK
from kubeward.failure_analyzer.analyzers.network_drops import analyze_dropped_traffic
from kubeward.failure_analyzer.findings import Diagnosis, Finding
from kubeward.failure_analyzer.report_view import ReportView
from kubeward.schemas.network import DropReport
from kubeward.schemas.pod_failures import PodFailureReport

log = logging.getLogger(__name__)

MAX_ALSO_NOTICED = 4


def diagnose(
    report: PodFailureReport, drops: DropReport | None = None, view: ReportView | None = None
) -> Diagnosis:
    """Every finding about ``report``, most confident first; never raises.

    ``drops``: the DROP flows traffic-store holds around the failure, when it answered;
    with them the dropped-traffic analyzer runs first (it wins ties).

    An analyzer that raises is logged and skipped. Findings with the same analyzer id or
    the same title are kept once (the more confident). When nothing matched, the generic
    fallback finding is the only one. ``view``: the report's view when the caller made one
    already (it parses the manifest and logs once, on first use).
    """
    view = view if view is not None else ReportView(report)
    found: list[tuple[float, int, Finding]] = []
    if drops is not None and drops.peers:
        try:
            dropped = analyze_dropped_traffic(view, drops)
        except Exception:
            log.exception("drop analyzer failed on %s/%s", report.namespace, report.pod_name)
        else:
            if dropped is not None:
                found.append((-dropped.confidence, -1, dropped))
    for order, analyzer in enumerate(ANALYZERS):
        try:
            finding = analyzer(view)
        except Exception:
            log.exception(
                "analyzer %s failed on %s/%s",
                getattr(analyzer, "__qualname__", analyzer),
                report.namespace,
                report.pod_name,
            )
            continue
        if finding is not None:
            found.append((-finding.confidence, order, finding))
    if not found:
        try:
            return Diagnosis(findings=(FALLBACK(view),))
        except Exception:
            log.exception("fallback analyzer failed on %s/%s", report.namespace, report.pod_name)
            return Diagnosis()
    found.sort(key=lambda item: (item[0], item[1]))
    seen: set[str] = set()
    findings: list[Finding] = []
    for _, _, finding in found:
        if finding.analyzer in seen or finding.title in seen:
            continue
        seen.add(finding.analyzer)
        seen.add(finding.title)
        findings.append(finding)
    return Diagnosis(findings=tuple(findings))


def _indent(step: str) -> str:
    """Continuation lines of a numbered step, indented to stay inside the list item."""
    first, _, rest = step.partition("\n")
    if not rest:
        return first
    return first + "\n" + "\n".join(("   " + line) if line else "" for line in rest.split("\n"))


def _inline(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def render(report: PodFailureReport, diagnosis: Diagnosis) -> str:
    """The solution Markdown: Root Cause, Fix, Verify, Evidence, and Also Noticed."""
    primary = diagnosis.primary
    if primary is None:
        primary = FALLBACK(ReportView(report))
    parts = [
        f"**{primary.title}**",
        "",
        "## Root Cause",
        "",
        primary.root_cause,
        "",
        "## Fix",
        "",
    ]
    parts.extend(f"{n}. {_indent(step)}" for n, step in enumerate(primary.fix, 1))
    parts += ["", "## Verify", "", "```bash", *primary.verify, "```", "", "## Evidence", ""]
    if primary.evidence:
        parts.extend(f"- **{item.source}**: {_inline(item.detail)}" for item in primary.evidence)
    else:
        parts.append("- **reason**: " + _inline(report.failure_reason or "none reported"))
    others = diagnosis.findings[1 : 1 + MAX_ALSO_NOTICED]
    if others:
        parts += ["", "## Also Noticed", ""]
        parts.extend(f"- **{f.title}** (`{f.analyzer}`)" for f in others)
    parts.append("")
    parts.append(f"_Offline analyzer: `{primary.analyzer}`._")
    return "\n".join(parts) + "\n"
