# payload-operator developer entry points. Everything runs from the repo root.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

VENV   ?= .venv
UPGRADE ?= 0
PY     := $(VENV)/bin/python
# extra pytest arguments, e.g. make test PYTEST_ARGS='-m "not rgw" -k lifecycle'
PYTEST_ARGS ?=
PYTEST_FLAGS ?= -q -ra -p no:cacheprovider --durations=15

.PHONY: bootstrap test lint crd demo chart-lint chart-readme image cluster-up cluster-down kind-e2e lock

bootstrap:  ## install apt/pip/npm dependencies and build the kube binaries (idempotent)
	bash scripts/bootstrap.sh

test: bootstrap  ## the whole suite against real servers
	$(PY) -m pytest $(PYTEST_FLAGS) $(PYTEST_ARGS)

lint: $(VENV)/bin/ruff  ## ruff check, ruff format --check, mypy (strict), the import layers (docs/architecture.md)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# a fresh clone: make the venv from the locks first (no apt, no kube build: lint needs neither)
$(VENV)/bin/ruff:
	BOOTSTRAP_SKIP_APT=1 BOOTSTRAP_SKIP_K8S=1 bash scripts/bootstrap.sh

crd:  ## regenerate the CRD manifest from the pydantic models
	$(VENV)/bin/payload-operator crd > crds/externalpayloadstorages.yaml.tmp
	mv crds/externalpayloadstorages.yaml.tmp crds/externalpayloadstorages.yaml
	$(PY) scripts/sync-chart-crd.py

demo: bootstrap  ## end-to-end demo (scripts/demo.py)
	$(PY) scripts/demo.py $(ARGS)

chart-lint:  ## helm lint + render of the chart (Helm's own library via helm-python-sdk)
	$(PY) scripts/render-chart.py lint

chart-readme:  ## regenerate charts/payload-operator/README.md from values.yaml (tests/ship/test_chart_readme.py checks it)
	$(PY) scripts/chart_readme.py

IMAGE ?= payload-operator:dev
IMAGE_TAR ?= .work/image/payload-operator.tar

image:  ## build the image with Docker, or without a registry on a private dockerd (scripts/build-image.sh)
	IMAGE=$(IMAGE) bash scripts/build-image.sh --save $(IMAGE_TAR)

cluster-up: image  ## a one-node cluster (kubelet, containerd, CNI) with the image imported; prints KUBECONFIG
	$(PY) -m devkit.node up --image $(IMAGE_TAR)

cluster-down:  ## stop what cluster-up started (kubelet first) and clean up after it
	$(PY) -m devkit.node down

kind-e2e:  ## kind cluster + image + chart + end-to-end suite (needs Docker; skips visibly without it)
	bash scripts/kind-e2e.sh

lock:  ## re-pin requirements.lock, requirements-test.lock and requirements-sdk04.lock (UPGRADE=1: newest releases)
	UPGRADE=$(UPGRADE) bash scripts/lock-requirements.sh
