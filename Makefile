# crypto-rates — the front door. `make run` and `make test` are the whole set-up on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
# VENV=<dir>: a virtualenv elsewhere, e.g. one already built for this project
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
NPM    ?= npm

.PHONY: help venv run test lint \
        test-backend lint-backend lint-deploy \
        frontend frontend-build test-frontend test-e2e lint-frontend \
        images test-images up down \
        test-deploy test-helm test-terraform test-workflows \
        bench audit clean

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort

# ---------------------------------------------------------------------------------------------
# Bootstrap: a virtualenv with the package and every Python tool the tests use, exactly the files of
# requirements-dev.lock (pinned with hashes: scripts/lock-dev.sh), then the package itself without
# dependencies or build isolation (its build backend is in the lock too).
$(VENV)/.installed: pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

venv: $(VENV)/.installed ## create .venv with the package and its dev tools

# System tools: `deps-<target>` (a prerequisite of every target that needs one) uses what is there and
# installs what is missing (as root on Debian) or stops with the install command. The list of tools per
# target is scripts/system-tools.txt. /usr/sbin (nginx, dockerd, sshd) is not on every user's PATH, nor is
# /usr/local/go/bin (where Go's own release tarball installs).
DEPS := PATH="$$PATH:/usr/sbin:/sbin:/usr/local/go/bin" scripts/deps.sh
deps-%:
	@$(DEPS) $*

# JUNIT_DIR=<dir> (CI servers such as Jenkins): each test-* target's pytest writes <dir>/<target>.xml,
# and vitest <dir>/test-frontend.xml.
JUNIT_XML = $(if $(JUNIT_DIR),$(abspath $(JUNIT_DIR))/$@.xml)
test-%: export PYTEST_ADDOPTS = $(if $(JUNIT_XML),--junitxml=$(JUNIT_XML))

.PHONY: test-scripts
test-scripts: venv ## scripts/deps.sh: uses present tools, installs as root, else stops with the install command
	$(BIN)/ruff check scripts
	$(BIN)/ruff format --check scripts
	$(PY) -m pytest scripts/tests -p no:cacheprovider

# ---------------------------------------------------------------------------------------------
# The two commands.
test: deps-test lint test-scripts test-backend test-frontend test-e2e test-deploy ## everything that runs without Docker
	@echo "make test: all green"

lint: lint-backend lint-frontend lint-deploy ## ruff, mypy, eslint, tsc

# ---------------------------------------------------------------------------------------------
# Backend
run: venv frontend-build ## the service on 127.0.0.1:8000 and the UI on :8080 against live CoinGecko; Ctrl-C stops them
	@$(DEPS) --optional run
	PYTHON=$(PY) sh frontend/scripts/run-local.sh

test-backend: deps-test-backend venv ## backend tests with the coverage gate (a PostgreSQL server too)
	$(PY) -m pytest backend/tests backend/testkit/tests backend/benchmarks/tests --cov=crypto_rates --cov-report=term-missing

lint-backend: venv ## ruff (lint and format) and mypy (strict) on backend/
	$(BIN)/ruff check backend
	$(BIN)/ruff format --check backend
	$(BIN)/mypy

# deploy/: ruff everywhere; mypy (strict, as the backend) on the suites that share testkit.deploy.
lint-deploy: venv ## ruff on deploy/, mypy (strict) on the suites that share testkit.deploy
	$(BIN)/ruff check deploy
	$(BIN)/ruff format --check deploy
	MYPYPATH=backend:deploy/cluster/tests $(BIN)/mypy deploy/cluster/tests
	MYPYPATH=backend $(BIN)/mypy deploy/tests/test_registry.py deploy/tests/test_cluster_versions.py deploy/tests/test_environments.py deploy/tests/images

# ---------------------------------------------------------------------------------------------
# Frontend
# node_modules from the committed lock, reinstalled only when package.json or the lock change.
FRONTEND_DEPS := frontend/node_modules/.installed
$(FRONTEND_DEPS): frontend/package.json frontend/package-lock.json
	cd frontend && $(NPM) ci --no-audit --no-fund
	touch $@

frontend: frontend-build ## the same as frontend-build

frontend-build: $(FRONTEND_DEPS) ## type-check and build the app into frontend/dist
	cd frontend && $(NPM) run --silent build

test-frontend: $(FRONTEND_DEPS) ## vitest unit tests of the app
	cd frontend && $(NPM) run --silent test$(if $(JUNIT_XML), -- --reporter=default --reporter=junit --outputFile.junit=$(JUNIT_XML))

test-e2e: deps-test-e2e venv frontend-build ## browser tests: Chromium -> nginx -> backend -> fake CoinGecko
	$(PY) -m pytest frontend/e2e -p no:cacheprovider

lint-frontend: venv $(FRONTEND_DEPS) ## tsc, eslint, ruff, shellcheck; API types match the backend
	cd frontend && $(NPM) run --silent lint
	cd frontend && PYTHON=$(CURDIR)/$(PY) sh scripts/gen-api-types.sh --check
	$(BIN)/ruff check frontend/e2e
	$(BIN)/ruff format --check frontend/e2e
	$(BIN)/shellcheck frontend/nginx/render.sh frontend/scripts/*.sh scripts/*.sh

# ---------------------------------------------------------------------------------------------
# Images and compose
# BuildKit is required (Dockerfile.dockerignore, RUN --mount); bases are overridable for mirrors, e.g.
# make images PYTHON_IMAGE=registry.example/python:3.12-slim-bookworm; DOCKER_BUILD_FLAGS adds flags
# (e.g. --network=host where dockerd has no bridge network, --secret id=pip.conf,src=...).
IMAGE_TAG ?= local
DOCKER ?= docker
DOCKER_BUILD_FLAGS ?=
IMAGE_BUILD_ARGS = --build-arg VERSION=$$($(PYTHON) -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])') \
	--build-arg REVISION=$$(git rev-parse HEAD 2>/dev/null || echo unknown) \
	$(foreach arg,PYTHON_IMAGE NODE_IMAGE NGINX_IMAGE,$(if $($(arg)),--build-arg $(arg)=$($(arg))))

images: ## build crypto-rates-backend and crypto-rates-frontend as :$(IMAGE_TAG)
	DOCKER_BUILDKIT=1 $(DOCKER) build -f backend/Dockerfile -t crypto-rates-backend:$(IMAGE_TAG) $(IMAGE_BUILD_ARGS) $(DOCKER_BUILD_FLAGS) .
	DOCKER_BUILDKIT=1 $(DOCKER) build -f frontend/Dockerfile -t crypto-rates-frontend:$(IMAGE_TAG) $(IMAGE_BUILD_ARGS) $(DOCKER_BUILD_FLAGS) frontend

# Trivy is in no Debian archive: install it from Aqua Security's releases, or point TRIVY at it.
TRIVY ?= trivy
.PHONY: scan
scan: ## build both images, then Trivy fails on fixable HIGH or CRITICAL vulnerabilities (as release.yml)
	@command -v $(TRIVY) >/dev/null || { echo "make scan: $(TRIVY) is not on PATH; install Trivy (https://trivy.dev) or set TRIVY=/path/to/trivy" >&2; exit 1; }
	$(MAKE) images
	for image in crypto-rates-backend crypto-rates-frontend; do \
		$(TRIVY) image --exit-code 1 --severity HIGH,CRITICAL --ignore-unfixed "$$image:$(IMAGE_TAG)"; \
	done

test-images: deps-test-images venv ## build and run the images for real, checked by pytest (root; own dockerd, no Docker Hub)
	deploy/images/test-images.sh

.PHONY: test-image-files
test-image-files: deps-test-image-files venv ## hadolint, compose schema and mounts, promtool, shellcheck, the lock (no Docker)
	$(PY) -m pytest deploy/tests/test_image_files.py -p no:cacheprovider

up: ## the local stack with compose (COMPOSE_PROFILES=observability adds Prometheus and Grafana)
	docker compose up --build --wait

down: ## stop the compose stack (its volumes stay)
	docker compose down

# ---------------------------------------------------------------------------------------------
# Deployment artefacts: chart, Terraform, workflows
test-deploy: deps-test-deploy lint-deploy test-helm test-terraform test-workflows test-image-files lint-registry test-cluster-static ## chart, terraform, workflow, image-file and registry-script checks

test-helm: deps-test-helm venv .venv-checkov/bin/checkov ## chart: render, lint, schemas, kubernetes-validate, checkov, promtool
	$(BIN)/shellcheck deploy/helm/*.sh
	$(PY) -m pytest deploy/tests/test_helm.py -p no:cacheprovider

test-terraform: venv .venv-checkov/bin/checkov ## terraform fmt, HCL structure/security tests, checkov, terraform.sh
	$(BIN)/shellcheck deploy/terraform/*.sh
	TF_CLI_CONFIG_FILE=/dev/null $(PY) -m pytest deploy/tests/test_terraform.py -p no:cacheprovider

# checkov's pins clash with the main venv, so it has its own, pinned with hashes (scripts/lock-dev.sh).
.venv-checkov/bin/checkov: requirements-checkov.lock
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet --require-hashes -r requirements-checkov.lock
	touch $@

test-workflows: deps-test-workflows venv ## workflows and the Jenkinsfile: schema, actionlint + shellcheck, zizmor, groovy, hygiene; one list of environments
	$(PY) -m pytest deploy/tests/test_workflows.py deploy/tests/test_jenkinsfile.py deploy/tests/test_environments.py -p no:cacheprovider

# ---------------------------------------------------------------------------------------------
# Benchmarks
bench: deps-bench venv frontend-build ## load benchmark: every endpoint of ours vs bare ASGI floor vs old Flask design, and the path through nginx (~10 min; .bench/)
	$(PY) -m pytest -q -p no:cacheprovider backend/benchmarks/tests
	PYTHONPATH=backend $(PY) -m benchmarks --out .bench $(BENCH_ARGS)

# ---------------------------------------------------------------------------------------------
# Security audits (need the network: CVE databases; run by CI's security job)
audit: venv ## bandit on the service, pip-audit on the dependency set, npm audit on the app
	$(BIN)/pip install --quiet -e '.[audit]'
	$(BIN)/bandit -q -r backend/crypto_rates --severity-level medium
	$(BIN)/pip-audit --skip-editable --progress-spinner off
	cd frontend && $(NPM) audit --omit=dev --audit-level=high

clean: ## remove build and test output
	rm -rf .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov frontend/dist .artifacts .bench

# ---------------------------------------------------------------------------------------------
# Your own cluster and registry (docs/DEPLOYMENT-GUIDE.md): make registry, make images push, make certs,
# make deploy. Credentials come from the environment, never the command line: the push account
# REGISTRY_USER plus REGISTRY_PASSWORD(_FILE) (registry, push); the read-only pull account
# REGISTRY_PULL_USER plus REGISTRY_PULL_PASSWORD(_FILE) (registry, deploy). Settings (REGISTRY_DIR, REGISTRY_ADDR, REGISTRY_NAMES,
# REGISTRY_IPS, REGISTRY, REGISTRY_CA, INVENTORY, ENV, ...) are described in each script's header.
.PHONY: registry registry-files registry-stop registry-renew registry-rotate-ca push certs deploy lint-registry test-registry
ANSIBLE_VENV := .venv-ansible

registry: deps-registry ## start the private registry (TLS + htpasswd): read-write on REGISTRY_ADDR, read-only for pulls on the next port; state in REGISTRY_DIR (.registry)
	deploy/registry/registry.sh start

registry-files: deps-registry-files ## the registry's CA, server certificate and htpasswd files only (for the compose profile registry)
	deploy/registry/registry.sh files

registry-stop: ## stop the registry that make registry started
	deploy/registry/registry.sh stop

registry-renew: deps-registry-renew ## a new registry server certificate from the same CA (then: make registry-stop registry)
	deploy/registry/pki.sh renew

registry-rotate-ca: deps-registry-rotate-ca ## a new registry CA and server certificate (then: make registry-stop registry certs)
	deploy/registry/pki.sh rotate-ca

push: deps-push ## push both images to REGISTRY=host:port; prints digests, writes the pinned values file (the read-only address)
	deploy/registry/push.sh

certs: deps-certs $(ANSIBLE_VENV)/.installed ## the registry CA onto the nodes of INVENTORY with Ansible (CHECK=1: --check)
	deploy/ansible/certs.sh

deploy: ## helm upgrade --install from the registry (KUBECONFIG, ENV=<env> of deploy/helm/crypto-rates/values-<env>.yaml), then helm test
	deploy/registry/deploy.sh

# ansible-core and ansible-lint in their own venv, pinned (2.19 is the last ansible-core for Python 3.11).
$(ANSIBLE_VENV)/.installed:
	$(PYTHON) -m venv $(ANSIBLE_VENV)
	$(ANSIBLE_VENV)/bin/pip install --quiet 'ansible-core==2.19.14' 'ansible-lint==26.10.1'
	touch $@

# Static checks of the scripts and the role: no root, no Docker, so part of make test (test-deploy).
lint-registry: venv $(ANSIBLE_VENV)/.installed ## shellcheck the registry scripts, ansible-lint the role
	$(BIN)/shellcheck -x deploy/registry/*.sh deploy/ansible/*.sh
	cd deploy/ansible && PATH=$(CURDIR)/$(ANSIBLE_VENV)/bin:$$PATH ansible-lint --offline --nocolor --strict .

test-registry: deps-test-registry venv lint-registry ## registry, push, certs over SSH, deploy rendering (root; reuses the image test's engine and images)
	deploy/registry/test-registry.sh

# Kubernetes built from source (deploy/cluster/README.md): a control plane on 127.0.0.1, the chart on it
.PHONY: cluster-build cluster-up cluster-down test-cluster test-cluster-static
CLUSTER_DIR ?= .data/cluster

cluster-build: deps-cluster-build ## build kube-apiserver & co., kubectl, kubelet, etcd, helm, the node's policy engine, cosign and Prometheus from Go modules (cached in .cache/cluster)
	deploy/cluster/build.sh >/dev/null
	deploy/cluster/build.sh kube-network-policies >/dev/null
	deploy/cluster/build.sh cosign >/dev/null
	deploy/cluster/node/build-prometheus.sh >/dev/null

CLUSTER_PY = PYTHONPATH=backend:deploy/cluster/tests $(PY) -m localcluster

cluster-up: deps-test-cluster venv cluster-build ## control plane on 127.0.0.1, state in CLUSTER_DIR (default .data/cluster)
	$(CLUSTER_PY) up $(CLUSTER_DIR)
	@echo "export KUBECONFIG=$(abspath $(CLUSTER_DIR))/admin.kubeconfig PATH=$$(deploy/cluster/build.sh 2>/dev/null):\$$PATH"

cluster-down: venv ## stop the control plane of cluster-up and delete CLUSTER_DIR
	$(CLUSTER_PY) down $(CLUSTER_DIR)

test-cluster: deps-test-cluster venv cluster-build ## root: the chart installed, upgraded, rolled back, uninstalled on a real API server
	PATH="$$PATH:/usr/local/go/bin" $(PY) -m pytest deploy/cluster/tests -p no:cacheprovider

test-cluster-static: venv ## no cluster: one Kubernetes minor everywhere; shellcheck of deploy/cluster (lint-deploy: ruff, mypy)
	$(BIN)/shellcheck -x deploy/cluster/*.sh deploy/cluster/node/*.sh
	$(PY) -m pytest deploy/tests/test_cluster_versions.py -p no:cacheprovider
