"""Crashes caused by dependencies: unreachable hosts, database auth, failed migrations."""

from __future__ import annotations

import re

from kubeward.failure_analyzer.analyzers.base import (
    code,
    crash_checks,
    from_log,
    is_crashing,
    kubectl,
    log_finding_context,
    make,
    status_evidence,
)
from kubeward.failure_analyzer.findings import Finding
from kubeward.failure_analyzer.report_view import LogHit, ReportView, as_dict

_HOST = r"[\w.\-]+|\[[0-9a-fA-F:]+\]"
# (pattern, kind); named groups ``host`` and optional ``port``.
_UNREACHABLE: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), kind)
    for p, kind in (
        (rf"dial tcp:? lookup (?P<host>{_HOST})(?: on [\d.:]+)?: no such host", "dns"),
        (rf"getaddrinfo (?:ENOTFOUND|EAI_AGAIN) (?P<host>{_HOST})", "dns"),
        (rf"could not translate host name \"(?P<host>{_HOST})\" to address", "dns"),
        (rf"UnknownHostException: (?P<host>{_HOST})", "dns"),
        (
            rf"(?:Temporary failure in name resolution|Name or service not known)\W+"
            rf"(?:.*?host=['\"]?(?P<host>{_HOST}))?",
            "dns",
        ),
        (r"connect ECONNREFUSED (?P<host>[\d.]+|[0-9a-f:]+):(?P<port>\d+)", "refused"),
        (rf"dial tcp (?P<host>{_HOST}):(?P<port>\d+): connect: connection refused", "refused"),
        (
            rf"connection to server at \"(?P<host>{_HOST})\"(?: \([^)]*\))?, port (?P<port>\d+) "
            r"failed: Connection refused",
            "refused",
        ),
        (rf"Error 111 connecting to (?P<host>{_HOST}):(?P<port>\d+)", "refused"),
        # The lookbehind starts a match only where a host name can start: without it, a
        # long run of name characters costs a quadratic scan.
        (
            rf"(?<![\w.\-])(?P<host>{_HOST}):(?P<port>\d+):? (?:\[Errno 111\] )?Connection "
            r"refused",
            "refused",
        ),
        (
            r"(?:Connection refused|ConnectException: Connection refused|Communications link "
            r"failure)",
            "refused",
        ),
        (
            rf"dial tcp (?P<host>{_HOST}):(?P<port>\d+): (?:i/o timeout|connect: connection timed "
            r"out)",
            "timeout",
        ),
        (r"connect ETIMEDOUT (?P<host>[\d.]+):(?P<port>\d+)", "timeout"),
        (
            rf"(?:timed out|timeout) (?:connecting|connection) to (?P<host>{_HOST})"
            r"(?::(?P<port>\d+))?",
            "timeout",
        ),
    )
)
_DB_AUTH: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), what)
    for p, what in (
        (r"password authentication failed for user \"([^\"]+)\"", "PostgreSQL"),
        (r"Access denied for user '([^']+)'@'[^']*'", "MySQL"),
        (r"FATAL:\s+role \"([^\"]+)\" does not exist", "PostgreSQL"),
        (r"FATAL:\s+database \"([^\"]+)\" does not exist", "PostgreSQL database"),
        (r"Unknown database '([^']+)'", "MySQL database"),
        (
            r"(?:MongoServerError|MongoError|pymongo\.errors\.OperationFailure).*"
            r"(Authentication failed)",
            "MongoDB",
        ),
        (r"(WRONGPASS|NOAUTH Authentication required)", "Redis"),
    )
)
_MIGRATION = re.compile(
    r"Dirty database version \d+|migration[^\n]{0,80}(?:failed|error)|Migrations have failed "
    r"validation|alembic[^\n]*(?:Error|error)|relation \"[^\"]+\" does not exist|"
    r"FlywayException[^\n]*|Table '[^']+' doesn't exist",
    re.I,
)


def _secret_envs(view: ReportView, container: str) -> list[str]:
    """``ENV (secret/name key k)`` for env vars of the container fed from Secrets."""
    found = view.container(container)
    out: list[str] = []
    for entry in found.env if found else ():
        ref = as_dict(as_dict(entry.get("valueFrom")).get("secretKeyRef"))
        if ref:
            out.append(f"{entry.get('name')} (secret {ref.get('name')} key {ref.get('key')})")
    return out


def _target(hit: LogHit) -> tuple[str | None, str | None]:
    groups = hit.match.groupdict()
    return groups.get("host"), groups.get("port")


def unreachable_hits(view: ReportView) -> list[tuple[LogHit, str, str | None, str | None]]:
    """Log lines where a connection was refused or timed out: ``(hit, kind, host, port)``,
    the first line of each pattern (DNS failures are not connection failures)."""
    if not view.logs:
        return []
    found = []
    for pattern, kind in _UNREACHABLE:
        if kind == "dns":
            continue
        hit = view.find_log(pattern)
        if hit is not None:
            found.append((hit, kind, *_target(hit)))
    return found


def analyze_dependency_unreachable(view: ReportView) -> Finding | None:
    """The app exits because a dependency (database, cache, API) refuses, times out or
    does not resolve."""
    if not view.logs or not is_crashing(view):
        return None
    hit = None
    kind = ""
    for pattern, pattern_kind in _UNREACHABLE:
        hit = view.find_log(pattern)
        if hit is not None:
            kind = pattern_kind
            break
    if hit is None:
        return None
    host, port = _target(hit)
    name, status = log_finding_context(view, hit)
    target = f"{host}:{port}" if host and port else host or "its dependency"
    short = (host or "").split(".")[0]
    what = {
        "dns": f"cannot resolve the host name {code(host or '?')} (DNS lookup fails)",
        "refused": f"gets *connection refused* from {code(target)}: nothing listens there",
        "timeout": f"times out connecting to {code(target)}",
    }[kind]
    is_service = bool(host) and not re.match(r"^[\d.]+$|^\[", host or "")
    checks: list[str] = []
    fix = [
        "Check the dependency is running and has ready endpoints"
        + (
            f":\n```bash\nkubectl -n {view.namespace} get svc,endpoints {short}\n```"
            if is_service
            else "."
        )
    ]
    if kind == "dns":
        fix.append(
            f"If it lives in another namespace use its full name "
            f"(`{short}.<namespace>.svc.cluster.local`); fix the host in the app's config "
            "(env var / ConfigMap) if it is mistyped."
        )
    elif kind == "refused":
        fix.append(
            f"Make sure the port {code(port or '?')} is the Service's port and the "
            "dependency listens on it; start the app after the dependency (retry with "
            "back-off in the app, or an init container that waits for it)."
        )
    else:
        fix.append(
            "Look for a NetworkPolicy blocking egress from this pod, or a firewall between "
            "the cluster and an external dependency."
        )
        checks.append(kubectl(view, "get networkpolicy"))
    if host:
        probe = f"nslookup {host}" if kind == "dns" or not port else f"nc -zv -w 3 {host} {port}"
        checks.insert(
            0,
            kubectl(
                view,
                f"run net-check --rm -it --restart=Never --image=busybox:1.36 -- {probe}",
            ),
        )
    return make(
        f"crash.dependency-{'dns' if kind == 'dns' else 'unreachable'}",
        f"Container {name} cannot reach {target}",
        f"Container {code(name)} {what} and exits (log: {code(hit.line[:160])}).",
        fix,
        (*checks, *crash_checks(view, name)),
        (from_log(hit), status_evidence(status) if status else None),
        0.86 if host else 0.75,
    )


def analyze_database_auth(view: ReportView) -> Finding | None:
    """The app exits because the database rejects its credentials or database name."""
    if not view.logs or not is_crashing(view):
        return None
    for pattern, system in _DB_AUTH:
        hit = view.find_log(pattern)
        if hit is None:
            continue
        subject = hit.match.group(1)
        name, status = log_finding_context(view, hit)
        secrets = _secret_envs(view, name)
        missing_db = system.endswith("database") or "role" in hit.match.group(0)
        cause = (
            f"{system} rejects the login of {code(subject)}"
            if not missing_db
            else f"{system.split()[0]} has no {'role' if 'role' in hit.match.group(0) else 'db'}"
            f" {code(subject)}"
        )
        fed = (
            f" The credentials come from: {', '.join(code(s) for s in secrets)}."
            if secrets
            else " No env var of the container is fed from a Secret; check how the app gets "
            "its credentials."
        )
        secret_name = secrets[0].split("secret ", 1)[1].split(" ", 1)[0] if secrets else "<secret>"
        return make(
            "crash.database-auth",
            f"Database login failed for {subject}",
            f"Container {code(name)} exits because {cause} (log: {code(hit.line[:160])}).{fed}",
            (
                f"Compare the password in the Secret with the database:\n```bash\nkubectl -n "
                f"{view.namespace} get secret {secret_name} -o jsonpath='{{.data}}'\n```",
                "Update the Secret (or create the user/database) so they match, then restart "
                f"the workload: `kubectl -n {view.namespace} rollout restart {view.owner_label}`.",
            ),
            crash_checks(view, name),
            (from_log(hit), status_evidence(status) if status else None),
            0.9,
        )
    return None


def analyze_migration(view: ReportView) -> Finding | None:
    """The app exits because a schema migration failed or the schema is missing."""
    if not view.logs or not is_crashing(view):
        return None
    hit = view.find_log(_MIGRATION)
    if hit is None:
        return None
    name, status = log_finding_context(view, hit)
    return make(
        "crash.migration-failed",
        f"Database migration failed in container {name}",
        f"Container {code(name)} exits during a schema migration or on a missing schema "
        f"(log: {code(hit.line[:160])}). A partly applied migration (a 'dirty' version) or "
        "a migration that never ran blocks every start.",
        (
            "Read the migration error in full and fix the failing migration in the code.",
            "For a dirty migration state, repair it on the database (e.g. `migrate force "
            "<version>`, `flyway repair`, `alembic stamp`) after checking what was applied.",
            "Run migrations once in a Job or init container rather than in every replica.",
        ),
        crash_checks(view, name),
        (from_log(hit), status_evidence(status) if status else None),
        0.84,
    )
