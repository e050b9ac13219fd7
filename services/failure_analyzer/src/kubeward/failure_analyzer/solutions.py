"""A record's solution: the offline analyzers' answer, or an LLM's built on it."""

from __future__ import annotations

import httpx

from kubeward.failure_analyzer.diagnosis import diagnose, render
from kubeward.failure_analyzer.llm_solution import llm_solution
from kubeward.failure_analyzer.report_view import ReportView
from kubeward.failure_analyzer.store import Solution
from kubeward.schemas.network import DropReport
from kubeward.schemas.pod_failures import PodFailureReport
from kubeward.schemas.settings import LLMConfig

NOT_DIAGNOSED = "Diagnosis is switched off on this installation (OFFLINE_DIAGNOSIS=false)."


def offline(
    report: PodFailureReport,
    enabled: bool = True,
    drops: DropReport | None = None,
    view: ReportView | None = None,
) -> Solution:
    """The offline analyzers' solution (a fixed note when diagnosis is switched off);
    ``drops``: traffic-store's DROP flows around the failure, if it answered; ``view``: the
    report's view, if the caller made one."""
    if not enabled:
        return Solution(text=NOT_DIAGNOSED, source="offline")
    diagnosis = diagnose(report, drops, view)
    primary = diagnosis.primary
    return Solution(
        text=render(report, diagnosis),
        source="offline",
        analyzer=primary.analyzer if primary else None,
    )


async def with_llm(
    config: LLMConfig,
    report: PodFailureReport,
    *,
    timeout: float,
    client: httpx.AsyncClient | None = None,
    drops: DropReport | None = None,
) -> Solution:
    """Ask the LLM, giving it the offline findings; on failure the offline answer, marked."""
    diagnosis = diagnose(report, drops)
    primary = diagnosis.primary
    outcome = await llm_solution(
        config, report, diagnosis, render(report, diagnosis), timeout=timeout, client=client
    )
    return Solution(
        text=outcome.solution,
        source=outcome.source,
        analyzer=primary.analyzer if primary else None,
        error=outcome.error,
    )
