# One entry point for a fresh machine:
#   make demo   -> .venv, install, serve the explorer (Voila) on the local sandbox
#   make test   -> .venv, install with the test extra, lint, build the docs, run every test
#   make docs   -> the documentation site in docs/_build/html (offline, warnings are errors)
#   make test-fast -> lint and the unit tests only (no browser, notebooks or servers)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PORT   ?= 8866

.PHONY: demo test test-fast lint docs browser-deps axe bench compat clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test,app,docs]"
	@rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP)
	$(BIN)/hi-widgets demo --port $(PORT)

# Debian's chromium for the browser tests (Playwright never downloads a browser here).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing and this user cannot apt-get install it; browser tests will be skipped"; fi; }

# axe-core for the accessibility tests (tests/test_accessibility.py), from the npm registry
# at a pinned version into .cache/ (not vendored: axe.min.js alone is 650 kB). The tests
# inject it into the page with Playwright's add_script_tag.
AXE_VERSION := 4.14.1
AXE_JS      := .cache/axe/node_modules/axe-core/axe.min.js
$(AXE_JS):
	npm install --prefix .cache/axe --no-audit --no-fund --silent axe-core@$(AXE_VERSION)
axe: $(AXE_JS)

# ruff; mypy strict on the package and lighter on the tests (tests/mypy.ini); numpydoc's
# parameter and returns checks on the public API.
lint: $(STAMP)
	$(BIN)/ruff check hi_widgets tests benchmarks notebooks docs conftest.py
	$(BIN)/ruff format --check hi_widgets tests benchmarks notebooks docs conftest.py
	$(BIN)/mypy
	$(BIN)/mypy --config-file tests/mypy.ini
	PYTHONPATH=. $(BIN)/python docs/_ext/docstring_check.py

# The site, offline, with every notebook executed. -W --keep-going -n: a broken reference,
# a public name without a docstring or a failing notebook fails the build (all reported).
docs: $(STAMP)
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
	  $(BIN)/python -m sphinx -W --keep-going -n -E -q -b html docs docs/_build/html

# The docs tests use the site just built (HI_WIDGETS_DOCS_HTML) instead of building again.
test: $(STAMP) browser-deps axe lint docs
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
	  HI_WIDGETS_DOCS_HTML=docs/_build/html $(BIN)/python -m pytest

# Lint and the unit tests: no browser, no notebook kernels, no Jupyter/Voila servers.
# One worker per core (pytest-xdist), a module's tests together so its sandbox is built once.
# `make test` stays in one process: the browser tests time a real UI and want the cores.
test-fast: $(STAMP) lint
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
	  $(BIN)/python -m pytest -m "not browser and not notebooks and not slow" \
	  -n auto --dist loadscope

# The data layer on the oldest supported pandas (2.2), in a venv of its own.
compat:
	$(PYTHON) -m venv .venv-pandas22
	.venv-pandas22/bin/pip install --quiet "pandas==2.2.*" -e ".[test]"
	.venv-pandas22/bin/python -m pytest -q tests/test_frames.py tests/test_export.py \
	  tests/test_plots.py tests/test_fetch.py tests/test_diff.py tests/test_bulk.py

bench: $(STAMP)
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/frames_and_plots.py
	$(BIN)/python benchmarks/fetch_versions.py
	$(BIN)/python benchmarks/fetch_datastore.py
	$(BIN)/python benchmarks/changes.py
	$(BIN)/python benchmarks/export_memory.py
	$(BIN)/python benchmarks/sandbox_build.py
	$(BIN)/python benchmarks/sandbox_abuse.py
	$(BIN)/python benchmarks/sync.py

clean:
	rm -rf $(VENV) .venv-pandas22 .cache .pytest_cache .ruff_cache .mypy_cache test-artifacts \
	  docs/_build docs/_generated docs/api docs/gallery
