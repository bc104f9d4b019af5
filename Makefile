# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
# Each creates .venv when missing and installs requirements.txt into it first.

PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PORT    ?= 8501

.PHONY: install run test test-fast lint browser screenshots bench assets clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e . --config-settings editable_mode=compat
	@touch $(STAMP)

install: $(STAMP)

## Open the dashboard (http://localhost:$(PORT)): `streamlit run streamlit_app.py` with the server's
## warm-up (dashboard/serve.py; plain `streamlit run` serves the same app, its first page slower).
run: install
	$(PY) -m dashboard.serve --server.port $(PORT) --server.headless true

## Every test: lint and the import contracts, then core, AppTest pages and the browser tests.
test: install browser lint
	$(PY) -m pytest -q

## Lint, format and the seams between packages (ruff; import-linter's contracts in pyproject.toml).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

## Lint, then everything but the browser tests and those marked slow.
test-fast: install lint
	$(PY) -m pytest -q -m "not browser and not slow"

## Debian's Chromium for the browser test (Playwright drives it; it never downloads a browser).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: /usr/bin/chromium missing; the browser test will be skipped"; fi; \
	fi

## Refresh the README's screenshots (the browser test, writing into docs/screenshots).
screenshots: install browser
	SCREENSHOT_DIR=$(CURDIR)/docs/screenshots $(PY) -m pytest -q -m browser

## Speed and fit against the peers; writes docs/benchmarks.md (not part of `make test`).
bench: install
	$(PY) -m pip install --quiet -r requirements-bench.txt
	$(PY) -m benchmarks

## Re-train the pre-trained demo checkpoints in assets/ with the CLI.
assets: install
	$(PY) -m iresnet_core assets

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
