"""Settings of the gateway, from environment variables."""

from __future__ import annotations

from kubeward.core.settings import BaseSettings


class Settings(BaseSettings, kw_only=True, frozen=True):
    """Gateway settings; see :class:`~kubeward.core.settings.BaseSettings`."""

    http_host: str = "0.0.0.0"
    http_port: int = 8000
    service_token: str = ""
    """Shared secret for agents and scanners; empty refuses every authenticated call."""
    request_timeout_seconds: float = 10.0
    """How long a write waits for the pipeline to confirm it, and a query for its answer."""
    diagnosis_timeout_seconds: float = 45.0
    """How long ``retry-solution`` waits for a new diagnosis; keep it above
    failure-analyzer's ``LLM_TIMEOUT_SECONDS``."""
    default_page: int = 5000
    session_secret: str = ""
    """Signs session cookies; every replica needs the same one. Empty: a random secret per
    process (sessions then end when the gateway restarts)."""
    settings_secret: str = ""
    """Encrypts admin secrets (LLM keys, webhook URLs) at rest; at least 16 characters and
    the same for every service. Empty: a random one per process (stored secrets are then
    unreadable after a restart)."""
    shutdown_grace_seconds: int = 10
    """On SIGTERM, how long open connections (log streams, feeds) get before they are cut."""
    session_ttl_seconds: int = 12 * 3600
    session_cookie_secure: bool = False
    """Mark the cookie ``Secure`` (set it when the API is served over HTTPS)."""
    login_rate_limit: int = 5
    login_rate_window_seconds: float = 30.0
    feed_replay_max: int = 1000
    """WebSocket feed: how many of the latest ``FEED`` messages a reconnecting client can
    resume from (``?since=``); each gateway keeps them in memory."""
    feed_client_queue: int = 1000
    """WebSocket feed: messages waiting for one client before it counts as lagging and is
    disconnected (close code 4008)."""
    feed_lag_grace_seconds: float = 10.0
    """WebSocket feed: how long a lagging client gets to take the ``lagging`` message and
    the close frame before its connection is dropped."""
    kubeconfig: str = ""
    """Path of a kubeconfig file (``KUBECONFIG``, as kubectl reads it; several paths joined
    with ``:`` are merged). Empty: the in-cluster service account when
    ``KUBERNETES_SERVICE_HOST`` is set, else no cluster (pod logs answer 503)."""
    kube_context: str = ""
    """Context of the kubeconfig to use; empty: its ``current-context``."""
    kube_request_timeout_seconds: float = 10.0
    """Connect and read timeout of one Kubernetes API call (for a followed log: of opening it;
    the open stream then waits for lines as long as they take)."""
    diagram_cache_seconds: float = 5.0
    """Cluster views: how long the list calls of one namespace (and the cluster's RBAC
    objects) are reused; concurrent identical requests share one fetch. 0: no reuse."""
    log_stream_heartbeat_seconds: float = 15.0
    """SSE log streams: a comment line is sent after this long without a log line, so
    proxies keep the connection and the client sees it is alive."""
    forwarded_allow_ips: str = ""
    """Proxies whose ``X-Forwarded-For``/``X-Forwarded-Proto`` are believed (comma-separated
    addresses or networks, ``*`` for any). Empty: none, so a client cannot pick its own
    address and escape the login rate limit; set it to your ingress's address."""
    broker_token_read: str = ""
    """kguardian's read-scope token (same variable as its broker): accepted on the kguardian
    read routes (``GET /pod/*``, ``/svc/*``, ``/version``) only."""
    broker_token_ingest: str = ""
    """kguardian's ingest-scope token: the kguardian write routes and read routes."""
    broker_token_admin: str = ""
    """kguardian's admin-scope token: every kguardian route (no kubeward admin right)."""
    broker_auth_token: str = ""
    """kguardian's pre-scopes shared token (read + ingest), what its controller sends."""
    kguardian_anonymous_read: bool = False
    """Let anyone call the kguardian read routes without credentials (the kguardian UI on
    a trusted network, as a broker without tokens). Off by default."""
    arkyn_log_tokens: str = ""
    """Tokens accepted besides ``SERVICE_TOKEN`` on arkyn's collector routes only
    (``POST /ingest-log``, ``POST /http-traffic-records/{id}``), comma-separated: the
    ``userToken`` an ``@arkyn/server`` app already sends as ``Authorization: Bearer``."""
