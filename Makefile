# Kubeward: `make run` starts the whole system, `make test` runs every test.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV := uv
PY := $(UV) run --no-sync

.PHONY: help install run test lint typecheck format bench asyncapi up down clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: ## Install uv, redis-server and the Python workspace (idempotent)
	@bash scripts/install.sh

run: install ## Start NATS, MongoDB (SecantusDB), Redis and all six services; Ctrl-C stops
	@$(PY) python -m kubeward.devstack

# pytest-xdist workers: most tests wait on servers and service processes starting, so two
# halve the wall time on two cores. Servers given by TEST_*_URL are shared by every test
# (they delete its streams), so then one process runs them all.
TEST_WORKERS ?= $(if $(TEST_NATS_URL)$(TEST_MONGODB_URL)$(TEST_REDIS_URL),0,2)

test: install lint typecheck ## Lint, type-check, then run every test against real servers
	@$(PY) pytest -n $(TEST_WORKERS)

lint: install ## ruff lint and format check
	@$(PY) ruff check .
	@$(PY) ruff format --check .

typecheck: install ## mypy --strict over every package
	@$(PY) mypy schemas/src libs/core/src libs/kube/src libs/devstack/src libs/integrations/src services/*/src bench

format: install ## Apply ruff fixes and formatting
	@$(PY) ruff check --fix .
	@$(PY) ruff format .

bench: install ## Benchmarks (not part of make test); prints ratios against raw limits
	@$(PY) python -m bench.ingest
	@$(PY) python -m bench.runtime_cost
	@$(PY) python -m bench.gateway
	@$(PY) python -m bench.failures
	@$(PY) python -m bench.failure_pages
	@$(PY) python -m bench.failure_http
	@$(PY) python -m bench.feed_latency
	@$(PY) python -m bench.security
	@$(PY) python -m bench.diagram
	@$(PY) python -m bench.network_policy
	@$(PY) python -m bench.soak
	@$(PY) python -m bench.faults
	@$(PY) python -m bench.listings

asyncapi: install ## Regenerate docs/asyncapi.json from kubeward.schemas.bus
	@$(PY) python -m kubeward.schemas.asyncapi > docs/asyncapi.json

up: ## docker compose up (needs a Docker engine)
	docker compose up -d --build

down: ## docker compose down
	docker compose down

clean: ## Remove local state (.kubeward/) and caches
	rm -rf .kubeward .pytest_cache .mypy_cache .ruff_cache
