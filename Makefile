# Two entry points for a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export MPI_LIB_NRN_PATH := $(abspath $(VENV))/lib/libmpi.so.12
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: demo demo-neuron test format clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[bmtk,netpyne,mpi,plot]"
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed-demo
	$(PY) examples/bmtk_network/run.py

demo-neuron: $(VENV)/.installed-demo
	$(PY) examples/neuron_standalone.py --out-dir output

test: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

format: $(VENV)/.installed-test
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf output .pytest_cache .ruff_cache
