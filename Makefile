# advkit: two commands. `make demo` and `make test` each build .venv from scratch when needed.
# `make test` also installs Debian's chromium for the report tests when it is missing and
# apt-get can run as root; otherwise those tests skip, saying why.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint browser clean

$(STAMP): pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/advkit evaluate --out results/demo.json --report

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y chromium || { apt-get update && apt-get install -y chromium; } || \
	      echo "chromium could not be installed: the report's browser tests will skip"; \
	  else \
	    echo "chromium missing (install it: apt-get install chromium): the report's browser tests will skip"; \
	  fi; }

test: lint browser
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) results
