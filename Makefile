# nodish: `make demo` runs the main job, `make test` runs everything CI checks.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NPM_STAMP := tests/interop/node_modules/.installed

.PHONY: demo test test-pythons lint typecheck pytest bench install clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NPM_STAMP): tests/interop/package.json
	cd tests/interop && npm install --no-audit --no-fund --silent
	touch $(NPM_STAMP)

SYSTEM_STAMP := $(VENV)/.system

$(SYSTEM_STAMP): scripts/setup-system | $(STAMP)
	scripts/setup-system
	touch $(SYSTEM_STAMP)

# sslyze (the TLS scanner the tls tests run) pins an older cryptography than nodish
# uses, so it gets a virtualenv of its own.
SSLYZE_STAMP := .venv-sslyze/.installed

$(SSLYZE_STAMP):
	test -x .venv-sslyze/bin/python || $(PYTHON) -m venv .venv-sslyze
	.venv-sslyze/bin/python -m pip install --quiet 'sslyze>=6.3,<7'
	touch $(SSLYZE_STAMP)

# Everything the tests need: Python packages, npm peers, Debian packages.
install: $(STAMP) $(NPM_STAMP) $(SYSTEM_STAMP) $(SSLYZE_STAMP)

demo: $(STAMP)
	$(PY) -m nodish demo $(DEMO)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/ruff format --check src tests bench examples

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: install
	$(PY) -m pytest -q -p no:cacheprovider

test: lint typecheck pytest

# The suite on every supported Python found here (pyenv's too); says which are missing.
# PYTEST=... passes arguments to pytest: make test-pythons PYTEST="tests/unit -x"
test-pythons: install
	$(VENV)/bin/nox -s tests $(if $(PYTEST),-- $(PYTEST))

# matplotlib draws the chart in docs/benchmarks.md: a bench-only dependency.
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): pyproject.toml | $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(STAMP) $(BENCH_STAMP)
	$(PY) -m bench $(BENCH); status=$$?; $(PY) -m bench.chart; exit $$status

clean:
	rm -rf $(VENV) .venv-sslyze build *.egg-info src/*.egg-info
