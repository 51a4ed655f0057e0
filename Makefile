# fakeproc — `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
APT_PACKAGES := fuse3 libfuse3-dev pkg-config procps util-linux

.PHONY: help install test test-long demo bench bench-quick lint typecheck clean

help:            ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

install: $(STAMP) ## system packages (as root, when missing), ./.venv, fakeproc editable

$(STAMP): pyproject.toml
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	$(PYTHON) -c 'import ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "missing system packages:$$missing (run as root or install them: apt-get install$$missing)" >&2; exit 1; \
	  fi; \
	fi
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,dev]'
	touch $@

test: install    ## run the test suite (under 10 minutes on 2 cores)
	$(PY) -m pytest -q -m 'not long'

test-long: install ## the long modes: fuzzing, load, big worlds
	$(PY) -m pytest -q -m long

demo: install    ## mount fakeproc on a built-in scene and show reclaim at work
	$(PY) -m fakeproc.demo

bench: install   ## benchmarks: ratios against the kernel and baselines, same run
	$(PY) -m bench

bench-quick: install ## a one-minute subset of `make bench`
	$(PY) -m bench --quick

lint: install    ## ruff
	$(VENV)/bin/ruff check fakeproc tests bench examples mount.py

typecheck: install ## mypy --strict
	$(VENV)/bin/mypy

clean:           ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
