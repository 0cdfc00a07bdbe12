# eegssm developer commands. `make demo` and `make test` are the two set-up commands of the README.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
TORCH  := torch==2.13.0

.PHONY: demo test test-all test-slow test-browser test-faults lint format bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Install torch first, pinned, so that no other dependency can pull a newer (CUDA) build.
$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]" "$(TORCH)"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/eegssm demo

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

# The review page in headless Chromium (Playwright drives the installed browser, by path):
# fails, rather than skips, when Chromium or playwright is missing. `make test` runs the same
# tests where both are present and skips them elsewhere.
test-browser: $(STAMP)
	EEGSSM_REQUIRE_BROWSER=1 $(PY) -m pytest -q tests/test_report_browser.py

# Fault injection (docs/reliability.md): full scratch disks, memory limits, hostile inputs.
test-faults: $(STAMP)
	$(PY) -m pytest -q -m faults tests/faults

test-all: $(STAMP)
	$(PY) -m pytest -q -m "not gpu"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/sequence_core.py

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info .pytest_cache .ruff_cache
