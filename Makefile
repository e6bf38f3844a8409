# The two commands a newcomer needs: `make run` and `make test`. Each sets itself up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENDOR := static/vendor
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	touch $@

$(VENDOR)/.installed: node_modules/.installed
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/
	cp node_modules/@picocss/pico/css/pico.min.css $(VENDOR)/
	cp node_modules/swagger-ui-dist/swagger-ui.css node_modules/swagger-ui-dist/swagger-ui-bundle.js $(VENDOR)/
	cp node_modules/axe-core/axe.min.js $(VENDOR)/
	touch $@

setup: $(VENV)/.installed $(VENDOR)/.installed ## Create the virtualenv and fetch front-end assets

run: setup ## Start the portal on the embedded default at http://127.0.0.1:5000 (PORT overrides)
	$(PY) -m portal.devrun

test: setup ## Run lint and the whole test suite (PostgreSQL and Redis when reachable)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

audit: setup ## Check the pinned dependencies for known vulnerabilities (pip-audit)
	$(PY) .ci/audit.py requirements.lock

lint: setup ## Lint and check formatting
	$(VENV)/bin/ruff check .

migration: setup ## Autogenerate a migration: make migration m="what changed"
	$(VENV)/bin/flask --app portal db migrate -m "$(m)"

wrk: ## Install wrk, the benchmarks' HTTP load generator (Debian's package), when missing
	@test -x /usr/bin/wrk || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

bench: setup wrk ## Run the benchmarks under bench/ against PostgreSQL and Redis
	$(PY) -m bench

clean: ## Remove the virtualenv, node_modules and local data
	rm -rf $(VENV) node_modules $(VENDOR) instance

.PHONY: help setup run test audit lint migration wrk bench clean
