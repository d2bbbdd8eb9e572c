PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv clean bench

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch is pinned to the CPU build first, so the extras' open ranges install
# nothing bigger (a plain `torch` requirement would pull a multi-GB CUDA build).
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -q 'torch==2.13.0'
	$(PIP) install -q -e '.[test,torch,dask,deep]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	MPLBACKEND=Agg $(PY) -m somkit demo all -o demo-output

# runs tests/ and the docstring examples of src/somkit (pyproject testpaths)
test: $(STAMP)
	MPLBACKEND=Agg $(PY) -m pytest -q -p no:cacheprovider
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples

bench: $(STAMP)
	$(PY) benchmarks/run.py --quick

clean:
	rm -rf $(VENV) demo-output build *.egg-info
