# Two entry points that work on a fresh machine (see README):
#   make quickstart  - set up, generate the synthetic dataset, train, evaluate, run the demo
#   make test        - set up, run the whole test suite
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup test quickstart lint clean

setup: $(STAMP)

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

quickstart: $(STAMP)
	$(PY) tools/quickstart.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# what `make quickstart` writes (tools/quickstart.py): the dataset, the run, the annotated demo copies
QUICKSTART_OUTPUTS := datasets/synthetic_quickstart outputs/quickstart demo/output

clean:
	rm -rf $(QUICKSTART_OUTPUTS)
