"""Benchmarks, run by ``make bench`` as modules from the repository root.

``uv run --no-sync python -m bench.ingest`` (pod-traffic pipeline), ``-m bench.gateway``
(live feed and GETs), ``-m bench.failures`` (failure-analysis pipeline). What they share,
the processes they start and stop and the machine description, is in :mod:`bench.common`;
latency statistics in :mod:`bench.latency`, spawned helper processes in
:mod:`bench.children`, feed clients in :mod:`bench.ws_clients` and the minimal HTTP/1.1
client with the bare app in :mod:`bench.http1`.
"""
