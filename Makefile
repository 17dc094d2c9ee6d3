# MarketLens: `make run` installs and starts the app with the sample data; `make test` runs every test.
# Both work on a fresh Debian/Ubuntu machine with Python 3.11: what the system lacks (the venv module,
# Java 17 for Spark, Chromium for browser tests) is installed with apt, or the one command to run is said.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
APP_STAMP := $(VENV)/.installed-app
DEV_STAMP := $(VENV)/.installed-dev
# apt needs root; use sudo when we are not root and it exists.
SUDO := $(shell [ "$$(id -u)" -ne 0 ] && command -v sudo)
PORT ?= 8501
PY_VENV_PACKAGE := $(shell $(PY) -c 'import sys; print(f"python{sys.version_info[0]}.{sys.version_info[1]}-venv")' 2>/dev/null)

# A JAVA_HOME that points nowhere makes Spark fail although a Java may be on the PATH: ignore it then.
ifneq ($(JAVA_HOME),)
ifeq ($(wildcard $(JAVA_HOME)/bin/java),)
$(warning JAVA_HOME=$(JAVA_HOME) has no bin/java; ignoring it and using the java on the PATH)
unexport JAVA_HOME
endif
endif

# apt_install(packages, what for): install Debian/Ubuntu packages, or say the command when that is impossible.
define apt_install
	@echo "Installing $(1) ($(2))..."
	@{ $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(1) >/dev/null; } \
		|| { echo "Could not install $(1) ($(2)). Run: sudo apt-get install $(1)  and try again." >&2; exit 1; }
endef

.PHONY: run test test-fast bench chromium java venv-module lint clean

venv-module:
	@$(PY) -c "import ensurepip" 2>/dev/null || { $(MAKE) --no-print-directory apt-venv; }

.PHONY: apt-venv
apt-venv:
	$(call apt_install,python3-venv $(PY_VENV_PACKAGE),Python's venv module)

$(BIN)/python: | venv-module
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# constraints.txt pins every transitive package too (pip freeze of a tested install).
$(APP_STAMP): requirements.txt constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt -c constraints.txt
	touch $@

# Tests also install PyTorch (requirements-deep.txt) so the sequence models' tests run, never skipped.
$(DEV_STAMP): requirements.txt requirements-dev.txt requirements-spark.txt requirements-deep.txt constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt -r requirements-deep.txt -c constraints.txt
	touch $@ $(APP_STAMP)

## run: install, put both samples (social, then shop) in the workspace (once), start the app on http://localhost:$(PORT)
# warm-up compiles UMAP's code into the workspace's disk cache (about 20 s, the first time only; then a
# second to check), so no map ever waits for it.
run: $(APP_STAMP)
	$(BIN)/python -m analytics import sample_data/social_events.csv.gz --name "Sample social" --if-new
	$(BIN)/python -m analytics import sample_data/sample_events.csv.gz --name "Sample shop" --if-new
	$(BIN)/python -m analytics warm-up
	$(BIN)/streamlit run app.py --server.port $(PORT)

## test: install test dependencies (Java 17 for Spark, Chromium for browser tests) and run the whole suite
test: $(DEV_STAMP) java chromium
	$(BIN)/python -m pytest -n auto --dist loadfile

## test-fast: everything but the browser tests
test-fast: $(DEV_STAMP) java
	$(BIN)/python -m pytest -n auto --dist loadfile -m "not e2e"

# Java 17 (or newer) for pyspark: the java on the PATH, or in JAVA_HOME.
java:
	@java -version 2>&1 | grep -Eq 'version "(1[7-9]|2[0-9])' || \
		$(MAKE) --no-print-directory apt-java

.PHONY: apt-java
apt-java:
	$(call apt_install,openjdk-17-jre-headless,Java 17 for the Spark engine and its tests)

# Chromium for the browser tests, wherever the system puts it (tests/e2e/conftest.py finds it).
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		$(MAKE) --no-print-directory apt-chromium

.PHONY: apt-chromium
apt-chromium:
	$(call apt_install,chromium chromium-driver,a browser for the browser tests)

## bench: print speed and memory figures (generates big logs into bench/out/; takes a while)
bench: $(DEV_STAMP)
	@for script in bench/bench_*.py; do echo "== $$script"; PYTHONPATH=. $(BIN)/python $$script || exit 1; done

lint: $(DEV_STAMP)
	$(BIN)/ruff check analytics ui pages app.py tests bench sample_data

clean:
	rm -rf $(VENV) bench/out .pytest_cache
