# syntax=docker/dockerfile:1
#
# One image recipe for all six Kubeward services. The build context is the repository
# root (the uv workspace needs schemas/ and libs/ next to services/); the service is
# chosen with build args, which docker-compose.yml passes for each service:
#
#   docker build -t kubeward/traffic-store:0.1.0 \
#     --build-arg SERVICE=traffic-store --build-arg PACKAGE=traffic_store \
#     --build-arg PORT=8082 .
#
#   SERVICE  distribution suffix: installs kubeward-$SERVICE (ingest, traffic-store,
#            failure-analyzer, security, mirror, gateway)
#   PACKAGE  import name: runs python -m kubeward.$PACKAGE
#   PORT     the port the service listens on (HEALTH_PORT; HTTP_PORT for the gateway)

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------- build ---
FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
ARG PACKAGE
ARG UV_VERSION=0.13.9
RUN : "${SERVICE:?pass --build-arg SERVICE=<ingest|traffic-store|...>}" \
      "${PACKAGE:?pass --build-arg PACKAGE=<ingest|traffic_store|...>}"

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src

# Third-party dependencies first, from the lock alone: this layer is reused until
# uv.lock changes, however often the sources do.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package "kubeward-${SERVICE}"

# Then the workspace packages the service needs, installed non-editable so the runtime
# stage gets a self-contained virtualenv and no source tree.
COPY schemas/ schemas/
COPY libs/ libs/
COPY services/ services/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package "kubeward-${SERVICE}" \
 && /app/.venv/bin/python -c "import kubeward.${PACKAGE}.__main__"

# -------------------------------------------------------------------------- runtime ---
FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
ARG PACKAGE
ARG PORT
RUN : "${PORT:?pass --build-arg PORT=<listening port>}" \
 && groupadd --system --gid 10001 kubeward \
 && useradd --system --uid 10001 --gid kubeward --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin kubeward

LABEL org.opencontainers.image.title="kubeward-${SERVICE}" \
      org.opencontainers.image.description="Kubeward ${SERVICE} service" \
      org.opencontainers.image.version="0.1.0"

# Root-owned and read-only for the service user; bytecode is compiled at build time, so
# the container runs fine with a read-only root filesystem.
COPY --from=build /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    KUBEWARD_SERVICE=${SERVICE} \
    KUBEWARD_PACKAGE=${PACKAGE} \
    KUBEWARD_PORT=${PORT}
WORKDIR /app
USER 10001:10001
EXPOSE ${PORT}

# slim has no curl: ask /health with urllib. Non-200 (503 = a failed check) raises and
# exits 1. The port follows the setting at run time, the build arg being the default.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as u; e = os.environ; v = 'HTTP_PORT' if e['KUBEWARD_PACKAGE'] == 'gateway' else 'HEALTH_PORT'; u.urlopen('http://127.0.0.1:%s/health' % e.get(v, e['KUBEWARD_PORT']), timeout=4)"]

# exec: python becomes PID 1 and receives SIGTERM itself (the services drain on it).
CMD ["/bin/sh", "-c", "exec python -m \"kubeward.${KUBEWARD_PACKAGE}\""]
