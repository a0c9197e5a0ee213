# ccm-batch: `make demo` runs the bundled sample jobs, `make test` runs the test suite.
# Both create the virtual environment (.venv) and install the package first.
PYTHON ?= python3
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
