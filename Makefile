# The two commands a new user runs: `make demo` and `make test`.
# Both create .venv, install torch==2.13.0 first (constraints.txt keeps it there), then
# the project, installing redis-server and prometheus from Debian when they are missing.
# The decision core is then compiled by mypyc next to its sources (scripts/build_core.py,
# ~30 s), and again whenever one of its sources changes; without a C compiler it stays pure
# Python (same results), and a build older than its sources is never used (core/native.py).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
NATIVE := forescale/core/_native.json

.PHONY: demo test lint unit bench dashboards install clean images

$(STAMP): pyproject.toml constraints.txt scripts/system-deps.sh
	bash scripts/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,worker]'
	touch $(STAMP)

# written by every build, compiled or not, so a machine that cannot compile does not retry
$(NATIVE): $(STAMP) scripts/build_core.py $(wildcard forescale/core/*.py)
	$(BIN)/python scripts/build_core.py

install: $(STAMP) $(NATIVE)

demo: install
	$(BIN)/forescale demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: install
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint unit

bench: install
	$(BIN)/python bench/core_scale.py
	$(BIN)/python bench/simulate.py
	$(BIN)/python bench/serving.py
	PYTHONPATH=. $(BIN)/python bench/controller_scale.py

dashboards: install
	$(BIN)/python -m forescale.observability.dashboards deploy/grafana
	$(BIN)/python -m forescale.observability.rules deploy/kubernetes/base/prometheusrule.yaml

# Container images (images/*.Dockerfile); tests/deploy/test_images.py runs their install steps.
IMAGE_REPO ?= ghcr.io/forescale
IMAGE_TAG  ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
DOCKER     ?= docker

images:
	$(DOCKER) build -f images/control-plane.Dockerfile -t $(IMAGE_REPO)/forescale:$(IMAGE_TAG) .
	$(DOCKER) build -f images/worker.Dockerfile -t $(IMAGE_REPO)/forescale-worker:$(IMAGE_TAG) .

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
	rm -f forescale/core/*.so $(NATIVE)
