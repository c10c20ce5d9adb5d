# Two commands set everything up on a fresh machine:
#   make bench   create .venv, install fwbench with every framework (CPU builds), run the default
#                suite, write results/latest/ (results.csv, results.jsonl, report.html, report.md)
#   make test    the same environment plus Chromium (for the report test), then the test suite,
#                in which every framework must be present
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONSTRAINTS := constraints-cpu.txt
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
OUT ?= results/latest
# 0.5 s of sampling per cell (half over 3 rounds of fresh workers, half for the sizes still undecided) keeps
# the default suite (208 cells) within 8 minutes on 2 cores (355-366 s, 2026-12-07); 'fwbench run' itself
# samples 1 s per cell.  bench-full adds every workload's full_sweep (343 cells).
BENCH_ARGS ?= --budget 0.5
# The default suite (make bench): three families. workloads/models.yaml (Keras 3 models) runs with make bench-models.
BENCH_SPECS ?= workloads/matrix_powers.yaml workloads/mlp_training.yaml workloads/fusion.yaml

.PHONY: setup chromium lint bench bench-full bench-quick bench-models bench-harness bench-reproducibility test test-fast clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[all,ray,test]'
	touch $(STAMP)

# Debian's Chromium renders the HTML report in the tests (Playwright drives it; no browser download).
chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }

bench: $(STAMP)
	$(BIN)/fwbench run $(BENCH_SPECS) --out $(OUT) --overwrite $(BENCH_ARGS)
	$(BIN)/fwbench report $(OUT) --html $(OUT)/report.html --md $(OUT)/report.md --csv $(OUT)/results.csv
	@echo "Results written to $(OUT)/: results.csv, results.jsonl, report.html, report.md"

bench-full: $(STAMP)
	$(MAKE) bench OUT=results/full BENCH_ARGS="--budget 0.5 --full"

bench-quick: $(STAMP)
	$(MAKE) bench OUT=results/quick BENCH_ARGS=--quick

# Keras 3 models on every backend (about 2 minutes on 2 cores; --full adds the image models at 224x224).
bench-models: $(STAMP)
	$(MAKE) bench OUT=results/models BENCH_SPECS=workloads/models.yaml BENCH_ARGS=

# Two test processes (pytest-xdist), each test file kept in one; no test asserts a time, so a busy or slow
# machine changes how long the suite takes, never its outcome.  test-fast leaves out the tests marked slow.
PYTEST := FWBENCH_REQUIRE_ALL_FRAMEWORKS=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check fwbench tests bench

test: $(STAMP) chromium lint
	$(PYTEST)

test-fast: $(STAMP) chromium lint
	$(PYTEST) -m "not slow"

clean:
	rm -rf $(VENV) results/latest results/quick

bench-harness: $(STAMP)
	$(BIN)/python bench/harness.py

bench-reproducibility: $(STAMP)
	$(BIN)/python bench/reproducibility.py
