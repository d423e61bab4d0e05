# Every target sets itself up: a fresh clone needs only python3 (>= 3.11).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
STAMP  := $(VENV)/.installed

.PHONY: run test lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)  ## set up, migrate and serve on $(PORT) (SQLite + in-process queue unless configured)
	$(BIN)/ordertrack migrate
	PORT=$(PORT) ALLOW_PRIVATE_WEBHOOK_URLS=$${ALLOW_PRIVATE_WEBHOOK_URLS:-true} $(BIN)/ordertrack serve --dev

test: $(STAMP)  ## set up and run the whole suite (needs Redis and PostgreSQL on localhost)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .pytest_cache ordertrack.db
