"""``make run``: the whole system on this machine until Ctrl-C.

Reuses NATS, Redis and MongoDB already listening on their default ports (or the URLs in
``NATS_URL``, ``REDIS_URL``, ``MONGODB_URL``); starts what is missing with data kept under
``.kubeward/`` in the checkout, so a restart keeps it.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import time
from pathlib import Path

from kubeward.devstack import infra
from kubeward.devstack.procs import Proc, StartError, port_open
from kubeward.devstack.services import SERVICES, ServiceSet, pick_ports

NATS_PORT, REDIS_PORT, MONGO_PORT = 4222, 6379, 27017


def _secret(state: Path, name: str) -> str:
    """``$NAME`` from the environment, else generated once into ``.kubeward/<name>``."""
    given = os.environ.get(name.upper().replace("-", "_"))
    if given:
        return given
    path = state / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def main() -> int:
    """Start everything, print where the API is, supervise until interrupted."""
    state = Path(os.environ.get("KUBEWARD_STATE_DIR", ".kubeward")).resolve()
    logs = state / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started: list[Proc] = []
    services: ServiceSet | None = None
    stop = False

    def on_signal(_sig: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        nats_url = os.environ.get("NATS_URL")
        if not nats_url:
            if not port_open(NATS_PORT):
                started.append(infra.nats(NATS_PORT, state / "nats", logs))
            nats_url = f"nats://127.0.0.1:{NATS_PORT}"
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            if not port_open(REDIS_PORT):
                started.append(infra.redis(REDIS_PORT, state / "redis", logs))
            redis_url = f"redis://127.0.0.1:{REDIS_PORT}/0"
        mongo_url = os.environ.get("MONGODB_URL")
        if not mongo_url:
            if not port_open(MONGO_PORT):
                started.append(infra.mongo(MONGO_PORT, state / "mongo", logs))
            mongo_url = f"mongodb://127.0.0.1:{MONGO_PORT}/?directConnection=true"
        token = _secret(state, "service-token")
        env = dict(os.environ) | {
            "NATS_URL": nats_url,
            "REDIS_URL": redis_url,
            "MONGODB_URL": mongo_url,
            "SERVICE_TOKEN": token,
            "SESSION_SECRET": _secret(state, "session-secret"),
            "SETTINGS_SECRET": _secret(state, "settings-secret"),
        }
        gateway_port = int(os.environ.get("HTTP_PORT", "8000"))
        if port_open(gateway_port):
            raise StartError(f"port {gateway_port} is taken; set HTTP_PORT to another port")
        services = ServiceSet(env, pick_ports(gateway_port, defaults=True), logs)
        services.start_all()
        print(
            f"\nKubeward is up.\n"
            f"  API:           {services.gateway_url}"
            f"  (OpenAPI docs: {services.gateway_url}/docs)\n"
            f"  Service token: {token}   (header X-Service-Token or Authorization: Bearer)\n"
            f"  Dashboard:     create the first admin with POST /api/auth/signup\n"
            f"                 (or Kure's dashboard Setup page)\n"
            f"  NATS {nats_url}  MongoDB {mongo_url}  Redis {redis_url}\n"
            f"  Logs:          {logs}\n"
            f"Press Ctrl-C to stop.",
            flush=True,
        )
        restarts = dict.fromkeys(SERVICES, 0)
        while not stop:
            time.sleep(0.5)
            for name, proc in services.procs.items():
                if not proc.running and not stop and restarts[name] < 5:
                    restarts[name] += 1
                    print(f"{name} exited; restarting. Last log lines:\n{proc.log_tail(10)}")
                    services.start(name, wait=False)
        return 0
    except StartError as exc:
        print(f"kubeward: {exc}", file=sys.stderr)
        return 1
    finally:
        print("\nStopping Kubeward...", flush=True)
        if services is not None:
            services.stop_all()
        for proc in reversed(started):
            proc.stop()


if __name__ == "__main__":
    sys.exit(main())
