"""The offline analyzers: each turns a :class:`ReportView` into a finding or ``None``.

:data:`ANALYZERS` is the one registry :func:`~kubeward.failure_analyzer.diagnosis.diagnose`
runs; :data:`FALLBACK` answers when none of them matched.
"""

from __future__ import annotations

from kubeward.failure_analyzer.analyzers import (
    app_config,
    app_errors,
    container_config,
    dependencies,
    eviction,
    exit_codes,
    generic,
    image_pull,
    init_containers,
    mounts,
    oom,
    pending,
    probes,
    runtime,
    scheduling,
    service_account,
)
from kubeward.failure_analyzer.analyzers.base import Analyzer

ANALYZERS: tuple[Analyzer, ...] = (
    image_pull.analyze_image_pull,
    container_config.analyze_missing_env_object,
    container_config.analyze_missing_env_key,
    container_config.analyze_run_as_non_root,
    container_config.analyze_config_error,
    runtime.analyze_runtime_error,
    mounts.analyze_missing_object,
    mounts.analyze_missing_pvc,
    mounts.analyze_missing_key,
    mounts.analyze_multi_attach,
    mounts.analyze_mount_failed,
    scheduling.analyze_insufficient_resources,
    scheduling.analyze_untolerated_taint,
    scheduling.analyze_node_selector,
    scheduling.analyze_unbound_pvc,
    scheduling.analyze_volume_node_affinity,
    scheduling.analyze_too_many_pods,
    scheduling.analyze_ports_in_use,
    scheduling.analyze_pod_affinity,
    scheduling.analyze_unschedulable_nodes,
    scheduling.analyze_scheduling_other,
    service_account.analyze_missing_service_account,
    oom.analyze_oom_killed,
    app_config.analyze_missing_env,
    app_config.analyze_missing_file,
    app_config.analyze_missing_module,
    dependencies.analyze_database_auth,
    dependencies.analyze_dependency_unreachable,
    dependencies.analyze_migration,
    app_errors.analyze_app_out_of_memory,
    app_errors.analyze_port_in_use,
    app_errors.analyze_permission_denied,
    app_errors.analyze_panic,
    app_errors.analyze_uncaught_exception,
    exit_codes.analyze_exit_code,
    probes.analyze_liveness_probe,
    probes.analyze_startup_probe,
    probes.analyze_readiness_probe,
    init_containers.analyze_init_failed,
    init_containers.analyze_init_stuck,
    eviction.analyze_node_pressure,
    eviction.analyze_ephemeral_limit,
    eviction.analyze_evicted,
    eviction.analyze_node_lost,
    pending.analyze_sandbox,
    pending.analyze_pending_too_long,
)
"""Every analyzer, in tie-break order (equal confidence: the earlier one wins)."""

FALLBACK = generic.analyze_unknown

__all__ = ["ANALYZERS", "FALLBACK", "Analyzer"]
