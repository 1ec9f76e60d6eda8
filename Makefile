# The two commands a user needs: `make run` and `make test`. Everything else is here for developers.
SHELL := /bin/bash
PY := .venv/bin/python
ORCH := .venv/bin/orch

.PHONY: install install-python install-ui install-browser install-prometheus run test test-python test-ui lint bench clean

install: install-python install-ui

install-python:
	@bash scripts/install.sh python

install-ui:
	@bash scripts/install.sh ui

install-browser:
	@bash scripts/install.sh browser

install-prometheus:
	@bash scripts/install.sh prometheus

run: install
	$(ORCH) up

lint: install-python
	.venv/bin/ruff check .
	.venv/bin/mypy

test: install install-browser install-prometheus lint
	$(PY) -m pytest -q
	@bash scripts/install.sh ui-test

# `make bench BENCH_ARGS="--quick --full workflow"` for a shorter run
bench: install
	$(PY) -m bench.run_all $(BENCH_ARGS)

clean:
	rm -rf .venv services/ui/node_modules services/ui/dist .pytest_cache .mypy_cache .ruff_cache
