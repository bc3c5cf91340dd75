# gan-notebooks: every target sets up .venv itself (idempotent, re-done when
# requirements.txt or pyproject.toml change).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))

.PHONY: all setup run test unit lab lint clean distclean
all: test

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

## run: execute every notebook top to bottom in full mode, saving outputs in place
run: $(STAMP)
	$(PY) scripts/run_notebooks.py $(NOTEBOOKS)

## test: unit tests, then nbval over notebooks/ in quick mode (one pytest summary). The notebooks write to a
## fresh artifacts/test-run/, so checkpoints left by an earlier version of a recipe cannot break the run.
TEST_ARTIFACTS := $(CURDIR)/artifacts/test-run
test: $(STAMP)
	rm -rf $(TEST_ARTIFACTS)
	GAN_QUICK=1 GAN_ARTIFACTS_DIR=$(TEST_ARTIFACTS) $(PY) -m pytest tests notebooks --nbval-lax --nbval-cell-timeout=900 -p no:cacheprovider

unit: $(STAMP)
	$(PY) -m pytest tests -q

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

lint: $(STAMP)
	$(VENV)/bin/ruff check gan_utils tests benchmarks scripts notebooks

clean:
	rm -rf artifacts .pytest_cache .ruff_cache build *.egg-info
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
	find . -name .ipynb_checkpoints -not -path "./$(VENV)/*" -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
