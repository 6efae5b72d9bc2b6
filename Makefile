# policyqa: `make run` sets everything up and serves on 127.0.0.1:8000; `make test` runs the tests.
# Every step is idempotent: the venv, the converted model and the index are reused when up to date.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1
# uvicorn restarts a worker that does not answer its supervisor's ping in time; loading the models takes
# a while on a busy machine, so it gets longer than uvicorn's 5 s default.
WORKER_HEALTHCHECK ?= 60
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test install install-test model index eval bench loadtest contract browser-deps ocr-deps clean-index bundle bundle-check

run: install model index
	$(VENV)/bin/uvicorn service.app:app --host $(HOST) --port $(PORT) --workers $(WORKERS) --timeout-worker-healthcheck $(WORKER_HEALTHCHECK)

test: install-test model index browser-deps ocr-deps
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q

# torch is installed first and alone so that pip takes the CPU build from local disk.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install -q -e ".[test,milvus]"
	touch $@

install: $(VENV)/.installed ocr-deps
install-test: $(VENV)/.installed-test

# The converted e5-small, then the trained reader exported from its committed adapters (both cached in .var/models).
model: install
	$(PY) -m index.build.e5_convert
	$(PY) -m index.read.neural

# POLICYQA_BACKEND=milvus: the Milvus client first, then build into POLICYQA_MILVUS_URI if missing or stale.
index: model
	$(if $(filter milvus,$(POLICYQA_BACKEND)),$(PY) -m pip install -q -e ".[milvus]")
	$(PY) -m index ensure

# OpenCV (pulled in by rapidocr-onnxruntime for OCR of scans) loads libGL and glib (Debian packages; needs root).
ocr-deps:
	@if ! ldconfig -p 2>/dev/null | grep -q "libGL.so.1 " || ! ldconfig -p 2>/dev/null | grep -q "libglib-2.0.so.0 "; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libgl1 libglib2.0-0 >/dev/null; \
	fi

# Headless Chromium and a CJK font for the browser tests (Debian packages; needs root).
browser-deps:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk"; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null; \
	fi

eval: install-test model index
	$(PY) -m eval run

# The synthetic scales compare against the local index, so it is built whichever backend serves;
# eval.bench_backend adds the backend POLICYQA_BACKEND names (Milvus) beside it.
bench: install-test model index browser-deps bundle
	POLICYQA_BACKEND=local $(PY) -m index ensure
	$(PY) -m eval.bench
	$(PY) -m eval.bench_encode
	$(PY) -m eval.bench_backend
	$(PY) -m eval.bench_reader
	$(PY) -m eval embed-parity
	$(PY) -m eval.bench_offline

# The offline bundle (README "Offline install (intranet)"): wheels, model, seeds, project, install.sh and run.sh
# in dist/policyqa-offline.tar.gz. BUNDLE_EXTRAS=milvus adds the Milvus client's wheels.
BUNDLE_EXTRAS ?=
bundle: install model
	$(if $(BUNDLE_EXTRAS),$(PY) -m pip install -q -e ".[$(BUNDLE_EXTRAS)]")
	$(PY) -m bundle $(if $(BUNDLE_EXTRAS),--extras $(BUNDLE_EXTRAS))

# Extract, install and serve the bundle in a network namespace with no interfaces, then ask the golden question
# (needs root or unprivileged user namespaces for `unshare`); writes its section of eval/reports/bench.md.
bundle-check: bundle
	$(PY) -m eval.bench_offline

loadtest: install-test model index
	$(PY) -m eval.loadtest
	$(PY) -m eval.loadtest_mixed

# The OpenAPI contract check of `make test` (tests/test_contract.py: schemathesis, --checks all,
# every operation) with many more examples per operation; takes several minutes.
contract: install-test model index
	ST_EXAMPLES=$(or $(EXAMPLES),60) $(PY) -m pytest -q -s tests/test_contract.py

clean-index:
	rm -rf .var/index
