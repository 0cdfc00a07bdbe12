# eegssm developer commands. `make demo` and `make test` are the two set-up commands of the README.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
TORCH  := torch==2.13.0

.PHONY: demo test test-all test-slow test-browser test-faults test-kernels test-kernels-smoke kernels lint format bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Install torch first, pinned, so that no other dependency can pull a newer (CUDA) build.
# The sources are compiled to bytecode once, as pip does for a regular install: an editable
# install otherwise compiles them on every run where PYTHONDONTWRITEBYTECODE is set (~0.1 s of
# each `eegssm` command, measured).
$(STAMP): $(PY) pyproject.toml setup.py src/eegssm/nn/_scan.c src/eegssm/preprocessing/_iir.c
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]" "$(TORCH)"
	$(PY) -m compileall -q src/eegssm > /dev/null
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
	$(PY) -m pytest -q -m "not gpu and not kernels"

# The kernel-parity tier (tests/kernels; README, "GPU"): mamba_ssm's and fla's Triton kernels
# against the PyTorch references, natively on CUDA, under Triton's interpreter on a CPU.
# `kernels` installs them into the venv: torch stays pinned; versions are pinned by
# tests/kernels/constraints.txt; mamba-ssm is built without its CUDA extension and without build
# isolation (an isolated build would fetch an unpinned CUDA torch to build against);
# causal-conv1d (CUDA C++ only) is left out. On a GPU machine install the `cuda` extra built for
# your CUDA torch instead, then run the pytest line below.
KSTAMP      := $(VENV)/.kernels-stamp
KCONSTRAINT := tests/kernels/constraints.txt

$(KSTAMP): $(STAMP) $(KCONSTRAINT)
	$(PY) -m pip install -q -c $(KCONSTRAINT) "$(TORCH)" "setuptools>=68" wheel packaging ninja
	$(PY) -m pip install -q -c $(KCONSTRAINT) -e ".[dev,kernels]" "$(TORCH)"
	MAMBA_SKIP_CUDA_BUILD=TRUE MAMBA_FORCE_BUILD=TRUE $(PY) -m pip install -q \
		--no-build-isolation -c $(KCONSTRAINT) mamba-ssm "$(TORCH)"
	touch $(KSTAMP)

kernels: $(KSTAMP)

test-kernels: $(KSTAMP)
	EEGSSM_REQUIRE_KERNELS=1 $(PY) -m pytest -q -m kernels tests/kernels

# A quick subset for local checks (CI runs the whole tier: .ci/run): every SSD option at once, the
# delta rule with states in and out, and both layers through both dispatches. A kernel package
# that does not import skips here.
KERNEL_SMOKE := tests/kernels/test_kernel_ssd.py::test_ssd_kernel_all_options \
	"tests/kernels/test_kernel_gdr.py::test_gdr_kernel_with_states[B2-T70]" \
	tests/kernels/test_kernel_layers.py::test_mamba2_layer_both_dispatches \
	tests/kernels/test_kernel_layers.py::test_gated_deltanet_layer_both_dispatches

test-kernels-smoke: $(KSTAMP)
	$(PY) -m pytest -q -m kernels --timeout=900 $(KERNEL_SMOKE)

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
