# The two commands a newcomer needs: `make run` and `make test`. Each sets itself up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENDOR := static/vendor
PYTEST_ARGS ?=
CHECKOV_VENV := .venv-checkov
OVERLAY ?= dev
NAMESPACE = $(shell awk '/^namespace:/ {print $$2}' deploy/k8s/overlays/$(OVERLAY)/kustomization.yaml)

.DEFAULT_GOAL := help

help: ## Show the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

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

$(CHECKOV_VENV)/.installed: deploy/checkov-requirements.lock
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r deploy/checkov-requirements.lock
	touch $@

tools: $(CHECKOV_VENV)/.installed ## Install checkov (the policy scan) in a virtualenv of its own

k8s-render: setup ## Render every Kubernetes overlay into build/k8s (Secrets from the examples)
	$(PY) deploy/k8s/render.py build/k8s

k8s-validate: k8s-render ## Validate the rendered overlays against the Kubernetes schemas, offline
	$(VENV)/bin/kubernetes-validate --strict --quiet -k 1.31.0 build/k8s/*.yaml

policy: k8s-render $(CHECKOV_VENV)/.installed ## Policy scan of the overlays (checkov) and Dockerfile lint (hadolint)
	$(CHECKOV_VENV)/bin/checkov --directory build/k8s --framework kubernetes --compact --quiet --skip-download
	$(VENV)/bin/hadolint Dockerfile

k8s-deploy: ## Deploy an overlay to the current kubectl context: make k8s-deploy OVERLAY=production
	kubectl -n $(NAMESPACE) delete job migrate --ignore-not-found
	kubectl apply -k deploy/k8s/overlays/$(OVERLAY)
	kubectl -n $(NAMESPACE) wait --for=condition=complete job/migrate --timeout=20m
	for d in web worker cron; do kubectl -n $(NAMESPACE) rollout status deployment/$$d --timeout=15m; done

clean: ## Remove the virtualenv, node_modules and local data
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules $(VENDOR) instance build

.PHONY: help setup run test audit lint migration wrk bench clean tools k8s-render k8s-validate policy k8s-deploy
