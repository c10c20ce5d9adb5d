# Two commands set everything up on a fresh machine:
#   make bench   create .venv, install fwbench with every framework (CPU builds), run the default suite
#   make test    the same environment, then the test suite (every framework must be present)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONSTRAINTS := constraints-cpu.txt

.PHONY: setup bench bench-quick test clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[all,test]'
	touch $(STAMP)

bench: $(STAMP)
	$(BIN)/fwbench run workloads/ --out results/latest --overwrite
	@echo "Results written to results/latest/ (results.csv, results.jsonl, run.json)"

bench-quick: $(STAMP)
	$(BIN)/fwbench run workloads/ --quick --out results/quick --overwrite

test: $(STAMP)
	FWBENCH_REQUIRE_ALL_FRAMEWORKS=1 $(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) results/latest results/quick
