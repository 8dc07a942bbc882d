# Two commands for a fresh machine (Python 3.10+):  `make run`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0
PORT   ?= 8501
ADDRESS ?= 127.0.0.1

.PHONY: setup run test lint bench train-default maps-default clean

setup: $(VENV)/.installed

# uv installs the same packages several times faster than pip (README: Setup); pip is the fallback where uv cannot
# be had. uv reads no pip configuration, so a local folder of wheels pip is told of (PIP_FIND_LINKS or pip.conf's
# find-links: where CI keeps its CPU build of torch) is passed on.
$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	@links="$${PIP_FIND_LINKS:-$$($(BIN)/python -m pip config get global.find-links 2>/dev/null)}"; \
	if $(BIN)/python -m pip install --quiet uv; then \
	  env $${links:+UV_FIND_LINKS="$$links"} $(BIN)/uv pip install --quiet --python $(BIN)/python "$(TORCH)" && \
	  $(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[dev]"; \
	else false; fi || { echo "uv failed: installing with pip"; \
	  $(BIN)/python -m pip install --quiet --upgrade pip && $(BIN)/python -m pip install --quiet "$(TORCH)" && \
	  $(BIN)/python -m pip install --quiet -e ".[dev]"; }
	touch $@

run: setup                     ## open the dashboard on the bundled model at http://127.0.0.1:8501
	MALLOC_ARENA_MAX=2 $(BIN)/python -m dashboard --server.address $(ADDRESS) --server.port $(PORT)

test: setup                    ## run the whole test suite (slow and browser tests included) and the linter
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: setup
	$(BIN)/ruff check .

bench: setup                   ## print every figure the README and docs/performance.md quote (about an hour on 2 cores)
	$(BIN)/python -m bench.bench_generation
	$(BIN)/python -m bench.bench_training
	$(BIN)/python -m bench.bench_maps
	$(BIN)/python -m bench.bench_dashboard
	$(BIN)/python -m bench.bench_causes
	$(BIN)/python -m bench.bench_warmstart --threads 2
	$(BIN)/python -m bench.bench_felt_speed
	$(BIN)/python -m bench.bench_editor_run
	$(BIN)/python -m bench.bench_end_of_training
	$(BIN)/python -m bench.bench_snapshots --compare
	$(BIN)/python -m bench.bench_training_watch checkpoints/default
	$(BIN)/python -m bench.bench_notebook
	$(BIN)/python -m bench.bench_classroom

train-default: setup           ## retrain the bundled model as shipped, loss landscapes and Watch training maps included (about 480 CPU s: 4 min 10 s on 2 idle cores)
	$(BIN)/llmcore train --out checkpoints/default --overwrite --threads 2
	@echo "The model is trained (its tuned lens too). Its 56 shipped maps and default view are refitted with: make maps-default;"
	@echo "its features (removed: they fitted the old weights) with: $(BIN)/llmcore features --fit checkpoints/default"

maps-default: setup            ## refit the bundled model's 56 maps (2 processes) and measure its default view (about 430 CPU s: ~4 min on 2 idle cores)
	$(BIN)/llmcore maps checkpoints/default

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
