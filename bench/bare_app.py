"""The raw limit for ``bench/gateway.py``'s GET figures: a bare Litestar app, one JSON endpoint.

``python bench/bare_app.py PORT`` serves ``GET /hello`` (a small JSON object shaped like a
user, as ``GET /api/auth/me`` answers) and ``POST /echo`` (reads the body, answers its size:
the raw limit of ``bench/failure_http.py``) with uvicorn exactly as the gateway is served by
``python -m kubeward.gateway``: one worker, the same uvicorn defaults, no access log, no
logging config. There is no auth, no Redis and no MongoDB: what is left is the cost of
uvicorn, the HTTP parser and Litestar routing and serialisation on this machine.
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn
from litestar import Litestar, Request, get, post

BODY = {
    "username": "bench-admin",
    "role": "admin",
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
}


@get("/hello")
async def hello() -> dict[str, str]:
    """A constant ~100-byte JSON object."""
    return BODY


@post("/echo", status_code=200)
async def echo(request: Request[Any, Any, Any]) -> dict[str, int]:
    """Read the whole body and answer its length."""
    return {"bytes": len(await request.body())}


def main() -> None:
    """Serve on ``127.0.0.1:<argv[1]>`` until SIGINT/SIGTERM."""
    port = int(sys.argv[1])
    uvicorn.run(
        Litestar(route_handlers=[hello, echo]),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
