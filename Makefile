# Every target creates the Python 3.10 venv (cached, keyed by the pins) when it is missing.
PYTHON := .venv/bin/python
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONWARNINGS := ignore::FutureWarning
DATA ?=
OUTPUT ?= outputs
ARGS ?=
TESTS ?= tests

.PHONY: venv run test clean

venv:
	@bash scripts/ensure_venv.sh

run: venv
	$(PYTHON) local_runner.py --output-dir $(OUTPUT) $(if $(DATA),--data $(DATA)) $(ARGS)

test: venv
	$(PYTHON) -m pytest $(TESTS)

clean:
	rm -rf $(OUTPUT) .pytest_cache
