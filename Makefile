# MarketLens: `make run` installs and starts the app with the sample data; `make test` runs every test.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
APP_STAMP := $(VENV)/.installed-app
DEV_STAMP := $(VENV)/.installed-dev
# apt needs root; use sudo when we are not root and it exists.
SUDO := $(shell [ "$$(id -u)" -ne 0 ] && command -v sudo)
PORT ?= 8501

.PHONY: run test test-fast bench chromium lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# constraints.txt pins every transitive package too (pip freeze of a tested install).
$(APP_STAMP): requirements.txt constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt -c constraints.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt requirements-spark.txt constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@ $(APP_STAMP)

## run: install, put the sample shop log in the workspace (once), start the app on http://localhost:$(PORT)
run: $(APP_STAMP)
	$(BIN)/python -m analytics import sample_data/sample_events.csv.gz --name "Sample shop" --if-new
	$(BIN)/streamlit run app.py --server.port $(PORT)

## test: install test dependencies (and Debian's chromium for browser tests) and run the whole suite
test: $(DEV_STAMP) chromium
	$(BIN)/python -m pytest

## test-fast: everything but the browser tests
test-fast: $(DEV_STAMP)
	$(BIN)/python -m pytest -m "not e2e"

chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null; }

## bench: print speed and memory figures (generates big logs into bench/out/; takes a while)
bench: $(DEV_STAMP)
	@for script in bench/bench_*.py; do echo "== $$script"; PYTHONPATH=. $(BIN)/python $$script || exit 1; done

lint: $(DEV_STAMP)
	$(BIN)/ruff check analytics ui pages app.py tests bench sample_data

clean:
	rm -rf $(VENV) bench/out .pytest_cache
