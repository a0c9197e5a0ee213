# ccm-batch: `make demo` runs the bundled sample jobs, `make test` runs the test suite.
# Both create the virtual environment (.venv) and install the package first.
# The interpreter: the distribution's own Python 3.11+ when it can make a virtual environment (Debian,
# Ubuntu, Fedora and RHEL build it with profile-guided and link-time optimisation: compose measured 13 %
# less CPU than on a pyenv build without --enable-optimizations, bench/RESULTS.md), else python3 on
# PATH. `make PYTHON=/path/to/python3` chooses another.
FOUND_PYTHON := $(shell for p in /usr/bin/python3 python3; do \
	  if $$p -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then \
	    echo $$p; break; fi; done)
PYTHON ?= $(or $(FOUND_PYTHON),python3)
VENV   ?= .venv
BIN     = $(VENV)/bin
OUT    ?= demo-out

.PHONY: demo test bench clean venv

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py ccm_batch/_compiled.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	# bytecode for the package's own modules, as pip writes it for an installed package (an editable
	# install writes none, and PYTHONDONTWRITEBYTECODE stops Python writing it): each run's process
	# saves compiling ≈ 90 modules, 0.14 s of CPU
	$(BIN)/python -m compileall -q ccm_batch
	touch $@

demo: venv
	$(BIN)/python -m ccm_batch.demo --out $(OUT)

test: venv
	$(BIN)/python -m pytest

bench: venv
	BENCH_SIZES=$(BENCH_SIZES) $(BIN)/python bench/run_bench.py

clean:
	rm -rf $(OUT) build *.egg-info
