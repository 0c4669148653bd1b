# Every target creates the Python 3.10 venv (cached, keyed by the pins) when it is missing.
PYTHON := .venv/bin/python
export TF_USE_LEGACY_KERAS := 1
export TF_ENABLE_ONEDNN_OPTS := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONWARNINGS := ignore::FutureWarning
DATA ?=
OUTPUT ?= outputs
ARGS ?=
TESTS ?= tests

.PHONY: venv lint run test test-fast bench bench-scale bench-serving clean

venv:
	@bash scripts/ensure_venv.sh

# ruff.toml: line length, import order, unused code; then every relative link and anchor in
# the Markdown files.
lint: venv
	$(PYTHON) -m ruff check .
	$(PYTHON) scripts/check_links.py

run: venv
	$(PYTHON) local_runner.py --output-dir $(OUTPUT) $(if $(DATA),--data $(DATA)) $(ARGS)

test: venv
	bash scripts/ensure_chromium.sh
	$(PYTHON) -m pytest $(TESTS)

# The tests that do not run the whole pipeline (marker `pipeline`, tests/conftest.py).
test-fast: venv
	$(PYTHON) -m pytest -m "not pipeline" $(TESTS)

# Cost of the pipeline vs. the TFRS notebook script on ML-100K (DATA= as for run; REPEATS=3).
# Writes bench_results/bench.{json,md}. BENCH_ARGS passes more run_bench.py flags.
REPEATS ?= 3
BENCH_ARGS ?=
bench: venv
	$(PYTHON) bench/run_bench.py $(if $(DATA),--data $(DATA)) --repeats $(REPEATS) $(BENCH_ARGS)

# Cold pipeline runs on synthetic MovieLens of each size (generated once under SCALE_WORK).
SIZES ?= 100000,1000000,10000000
SCALE_REPEATS ?= 1
SCALE_WORK ?= /tmp/movierec-bench-scale
bench-scale: venv
	$(PYTHON) bench/run_bench.py --scale $(SIZES) --repeats $(SCALE_REPEATS) --work $(SCALE_WORK) $(BENCH_ARGS)

# Latency of the newest pushed model (MODEL=<version dir> to choose another).
MODEL ?= $(lastword $(sort $(wildcard $(OUTPUT)/serving/movielens/[0-9]*)))
bench-serving: venv
	@test -n "$(MODEL)" || { echo "no pushed model under $(OUTPUT)/serving: run make run first, or pass MODEL=" >&2; exit 1; }
	$(PYTHON) -m serving.bench --model-dir $(MODEL) --json $(OUTPUT)/serving_bench.json

clean:
	rm -rf $(OUTPUT) .pytest_cache
