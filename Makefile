# The two commands of the README: `make lab` (set up and open the workshop) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0

.PHONY: setup lab test clean

$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install "$(TORCH)"
	$(BIN)/pip install -r requirements.txt
	touch $@

setup: $(BIN)/.installed

lab: setup
	$(BIN)/jupyter lab notebooks/

test: setup
	AIMS_FAST=1 $(BIN)/pytest --nbval-lax tests/ notebooks/

clean:
	rm -rf outputs .cache .pytest_cache
