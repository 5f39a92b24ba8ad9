# Spectral — the commands. `make run` and `make test` are the two that matter.
SHELL := /bin/bash
# The caller's own PATH, to tell them when uv (installed into ~/.local/bin) is not on it.
CALLER_PATH := $(PATH)
export PATH := $(HOME)/.local/bin:$(PATH)
UV ?= uv
PYTEST_ARGS ?=

.PHONY: help uv setup run migrate worker ingest test lint format bench demo clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

uv: ## install uv if it is missing (into ~/.local/bin), and say how to put it on your PATH
	@command -v $(UV) >/dev/null 2>&1 || { echo "installing uv"; python3 -m pip install --user --quiet uv || curl -LsSf https://astral.sh/uv/install.sh | sh; }
	@PATH="$(CALLER_PATH)" command -v $(UV) >/dev/null 2>&1 || echo "note: uv is in ~/.local/bin, which is not on your shell's PATH; for commands such as 'uv run spectral', run (and add to ~/.bashrc or ~/.zshrc): export PATH=\"\$$HOME/.local/bin:\$$PATH\""

setup: uv ## install every package of the workspace (and the dev tools) into .venv
	$(UV) sync --all-packages --frozen

run: setup ## serve the API on the embedded default (SQLite, in-process queue) at :8000
	$(UV) run --package spectral-core spectral-admin migrate
	$(UV) run --package spectral-api python -m spectral_api

migrate: setup ## apply database migrations (SPECTRAL_DATABASE_URL, default SQLite)
	$(UV) run --package spectral-core spectral-admin migrate

worker: setup ## run the background worker (needs SPECTRAL_REDIS_URL)
	$(UV) run --package spectral-worker python -m spectral_worker

ingest: setup ## run the OTLP/HTTP ingest service at :4318
	$(UV) run --package spectral-otel-ingest python -m spectral_otel_ingest

test: setup ## the whole suite: unit, integration (real PostgreSQL + Redis), e2e
	$(UV) run pytest -n 2 --ignore=tests/browser $(PYTEST_ARGS)
	@# The browser tests after the journey read what it made (its scan, change sets, rubric): one process, in order.
	$(UV) run pytest -p no:randomly tests/browser $(PYTEST_ARGS)

lint: setup ## ruff, formatting, mypy and the import-linter contracts
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy packages/spectral-core/src packages/spectral-engine/src apps/spectral-api/src apps/spectral-otel-ingest/src apps/spectral-worker/src apps/spectral-cli/src
	$(UV) run lint-imports

format: setup ## apply ruff's fixes and formatting
	$(UV) run ruff check --fix .
	$(UV) run ruff format .

BENCHES := bench/otlp_ingest.py bench/agent_config.py bench/unit_of_work.py bench/scan_quality.py

bench: setup ## the benchmarks (print numbers; add --write to a script to record them in bench/RESULTS.md)
	@for script in $(BENCHES); do echo "== $$script"; $(UV) run python $$script || exit 1; done

demo: setup ## seed a workspace with planted failures, run a scan, leave the server up to explore
	$(UV) run spectral demo

clean: ## remove the embedded data directory and caches
	rm -rf .spectral .pytest_cache .mypy_cache .ruff_cache
