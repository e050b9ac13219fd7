"""Prometheus metrics across processes: each service answers its registry over the bus,
the gateway gathers every answer into one ``/metrics`` page.

- A service keeps its counters in its own :class:`~prometheus_client.CollectorRegistry`
  (several services can then run in one test process without mixing counters) and sets
  ``ServiceContext.metrics`` to it; :func:`kubeward.core.service.serving` answers
  :func:`kubeward.schemas.bus.metrics_subject` with :func:`render` of it.
- The gateway calls :func:`gather`: one request per service, all at once, each bounded by
  the same timeout, so a silent service costs one timeout, never a stalled scrape.
- :func:`merge` joins the pages into valid exposition text: a metric family that several
  processes report (``kure_llm_requests_total`` comes from failure-analyzer and security)
  appears once, with counter, summary and histogram samples of equal labels summed.
- :class:`LLMMetrics` are Kure Monitor's LLM metrics, bound to a service's registry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Summary, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from kubeward.core.bus import NoRespondersError

__all__ = ["LLMMetrics", "gather", "merge", "render"]

log = logging.getLogger(__name__)

Request = Callable[[str, bytes, float], Awaitable[bytes]]
"""``(subject, payload, timeout) -> reply``; raises ``TimeoutError`` or
:class:`~kubeward.core.bus.NoRespondersError` when nobody answers."""

_SUMMED: Final = frozenset({"counter", "summary", "histogram", "gaugehistogram"})


def render(registry: CollectorRegistry) -> bytes:
    """``registry`` as Prometheus text (format 0.0.4)."""
    return bytes(generate_latest(registry))


async def gather(
    request: Request, subjects: Sequence[tuple[str, str]], timeout: float
) -> list[bytes]:
    """The pages of every ``(service, subject)`` that answered within ``timeout`` seconds,
    asked concurrently; a service that does not answer is logged and left out."""

    async def one(service: str, subject: str) -> bytes:
        try:
            return await request(subject, b"", timeout)
        except (TimeoutError, NoRespondersError):
            log.warning("%s did not answer the metrics request", service)
            return b""

    pages = await asyncio.gather(*(one(service, subject) for service, subject in subjects))
    return [page for page in pages if page]


def merge(pages: Iterable[bytes]) -> bytes:
    """One exposition page from several: each family once (the first page's help and type),
    samples of a family several pages report joined; samples with the same name and labels
    are summed for counters, summaries and histograms, the earliest kept for ``*_created``,
    the first page's kept for gauges. A page that does not parse is logged and skipped."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], Sample]] = {}
    for page in pages:
        try:
            parsed = list(text_string_to_metric_families(page.decode("utf-8")))
        except Exception as exc:  # one bad page must not cost the whole scrape
            log.warning("skipping a metrics page that does not parse: %s", exc)
            continue
        for family in parsed:
            known = families.setdefault(family.name, family)
            samples = values.setdefault(family.name, {})
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                seen = samples.get(key)
                if seen is None:
                    samples[key] = sample
                elif sample.name.endswith("_created"):
                    samples[key] = seen._replace(value=min(seen.value, sample.value))
                elif known.type in _SUMMED:
                    samples[key] = seen._replace(value=seen.value + sample.value)
    for name, family in families.items():
        family.samples = list(values[name].values())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(list(families.values())))
    return render(registry)


class _Fixed(Collector):
    """A collector that yields families it was given."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        """The families, as given."""
        return iter(self._families)


class LLMMetrics:
    """Kure Monitor's LLM metrics (``kure_llm_requests_total{provider,status}`` and the
    summary ``kure_llm_request_duration_seconds{provider}``) in one service's registry.

    Names, help texts, types and labels are Kure's (``backend/services/prometheus_metrics.py``);
    ``status`` is ``success`` or ``error``, ``provider`` our name of the provider
    (``openai``, ``anthropic``, ``copilot``, ...). Both are recorded once per model call.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "kure_llm_requests",
            "Total LLM API requests by provider and outcome",
            ["provider", "status"],
            registry=registry,
        )
        self.duration = Summary(
            "kure_llm_request_duration_seconds",
            "Duration of LLM API requests in seconds",
            ["provider"],
            registry=registry,
        )

    def record(self, provider: str, ok: bool, seconds: float) -> None:
        """Count one call to ``provider`` that took ``seconds`` and succeeded or not."""
        self.requests.labels(provider, "success" if ok else "error").inc()
        self.duration.labels(provider).observe(seconds)
