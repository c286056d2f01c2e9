# Two commands for a machine that has only python3: `make demo` and `make test`.
# uv is bootstrapped into .tools/ from PyPI when it is not on PATH; the project
# environment (.venv) is created from uv.lock, so every machine resolves the same versions.
# --compile-bytecode: the libraries are compiled once at install, not on every import
# (where PYTHONDONTWRITEBYTECODE is set, Great Expectations alone took 8 s to import, 3.6 s compiled).

PYTHON ?= python3
UV_VERSION := 0.13.8
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
PEOPLE ?= 1000000
NIGHTS ?= 3
RUNS ?= 3

.PHONY: demo test lint typecheck bench setup clean

setup: $(VENV)/.synced

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock $(if $(findstring .tools,$(UV)),.tools/bin/uv)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --extra dev --compile-bytecode --python $(PYTHON)
	touch $@

demo: setup
	$(VENV)/bin/ibr demo

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy core staging pipelines assets matching quality publish reports registry synthetic ingest bench

# loadgroup: a module marked xdist_group (the Spark linkage tests: one JVM, nights built once) stays on one worker
test: lint typecheck
	$(VENV)/bin/pytest -n 2 --dist loadgroup -q

bench: setup
	$(VENV)/bin/python -m bench.run --people $(PEOPLE) --nights $(NIGHTS) --runs $(RUNS)

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
