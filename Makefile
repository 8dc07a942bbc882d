# Two commands for a fresh machine (Python 3.10+):  `make run`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0
PORT   ?= 8501
ADDRESS ?= 127.0.0.1

.PHONY: setup run test lint bench train-default clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

run: setup                     ## open the dashboard on the bundled model at http://127.0.0.1:8501
	MALLOC_ARENA_MAX=2 $(BIN)/python -m dashboard --server.address $(ADDRESS) --server.port $(PORT)

test: setup                    ## run the whole test suite (slow and browser tests included) and the linter
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .

bench: setup                   ## print the benchmark ratios quoted in the README
	$(BIN)/python bench/bench_generation.py
	$(BIN)/python bench/bench_training.py
	$(BIN)/python bench/bench_maps.py
	$(BIN)/python bench/bench_dashboard.py
	$(BIN)/python bench/bench_causes.py

train-default: setup           ## retrain the bundled model as shipped (about 370 CPU s: 3-4 min on 2 idle cores) and refit its maps (about 700 CPU s)
	$(BIN)/llmcore train --out checkpoints/default --overwrite --threads 2
	$(BIN)/llmcore maps checkpoints/default

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
