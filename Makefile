# Every target sets itself up: a fresh clone needs only python3 (>= 3.11).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT    := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends

.PHONY: run test faults soak lint format bench bench-tools clean browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

browser:  ## Debian's Chromium for the browser tests (Playwright drives it; nothing is downloaded)
	test -x /usr/bin/chromium || $(APT) chromium || { $(SUDO) apt-get update -qq && $(APT) chromium; }

run: $(STAMP)  ## set up, migrate and serve on $(PORT) (SQLite + in-process queue unless configured)
	$(BIN)/ordertrack migrate
	PORT=$(PORT) ALLOW_PRIVATE_WEBHOOK_URLS=$${ALLOW_PRIVATE_WEBHOOK_URLS:-true} $(BIN)/ordertrack serve --dev

test: $(STAMP) browser  ## set up and run the whole suite (needs Redis and PostgreSQL on localhost)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

faults: $(STAMP)  ## the fault and attack matrix: runs tests/faults, prints the table, updates docs/faults.md
	$(BIN)/python -m pytest tests/faults --fault-table docs/faults.md

soak: $(STAMP)  ## LOAD-2 by hand: faults injected every 5 minutes under load (SOAK_MINUTES, default 30)
	$(BIN)/python -m tests.faults.soak --minutes $${SOAK_MINUTES:-30}

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench-tools:  ## Debian's wrk, the load generator the ingest benchmarks drive
	command -v wrk >/dev/null || $(APT) wrk || { $(SUDO) apt-get update -qq && $(APT) wrk; }

bench: $(STAMP) bench-tools
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .pytest_cache ordertrack.db
