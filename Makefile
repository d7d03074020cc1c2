# The two commands of the README: `make lab` (set up and open the workshop) and `make test`.
# Python 3.10 to 3.13 (PYTHON=python3.12 picks one). torch goes first, matching the machine: TORCH holds pip's
# words for it, passed as separate words (make setup TORCH="torch --index-url URL"); by default the CUDA build
# from PyPI where nvidia-smi sees an NVIDIA GPU, else the CPU build. constraints.txt pins the rest to the
# versions of a passing run (Python 3.11.5-3.13; CONSTRAINTS= installs the newest versions the bounds allow).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
HAS_NVIDIA_GPU := $(shell nvidia-smi -L >/dev/null 2>&1 && echo yes)
ifeq ($(HAS_NVIDIA_GPU),yes)
TORCH ?= torch==$(TORCH_VERSION)
else
TORCH ?= torch==$(TORCH_VERSION) --index-url $(TORCH_CPU_INDEX)
endif
PY_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)
# the pins need Python 3.11.5 or newer (soupsieve's Requires-Python; tests/test_install.py checks this floor)
PINS_PYTHON := 3.11.5
PINS_OK := $(shell $(PYTHON) -c 'import sys; v = tuple(map(int, "$(PINS_PYTHON)".split("."))); \
	print("yes" * (v <= sys.version_info[:3] < (3, 14)))' 2>/dev/null)
CONSTRAINTS ?= $(if $(PINS_OK),constraints.txt,)
PIP_CONSTRAINTS := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)
CHECK_PYTHON := import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 10) <= v <= (3, 13) else \
	"Python %d.%d (%s): this curriculum needs Python 3.10 to 3.13. Install one (python.org, pyenv or conda) " \
	"and name it, e.g. make setup PYTHON=python3.12" % (*v, sys.executable))

.PHONY: setup lab test sync constraints clean workshop-bench

$(BIN)/.installed: requirements.txt requirements-dev.txt $(CONSTRAINTS)
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.10 to 3.13 and run e.g. make setup PYTHON=python3.12"; exit 1; }
	@$(PYTHON) -c '$(CHECK_PYTHON)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install $(TORCH)
	@$(if $(CONSTRAINTS),,echo "Python $(PY_VERSION): the newest versions within requirements.txt's bounds (constraints.txt needs Python $(PINS_PYTHON) to 3.13)")
	$(BIN)/python -m pip install $(PIP_CONSTRAINTS) -r requirements.txt -r requirements-dev.txt
	touch $@

setup: $(BIN)/.installed

lab: setup
	$(BIN)/jupyter lab notebooks/

test: setup
	AIMS_MODE=fast $(BIN)/pytest --nbval-lax tests/ notebooks/

# Measure every lesson in workshop mode (wall time, peak memory, results card), one after the other, into
# docs/workshop_benchmark.json; then `make sync` writes the numbers into README and the notebooks. Not a test: it
# takes up to 15 minutes per lesson on 2 CPU cores. BENCH_ARGS="02a 04" measures only those notebooks.
BENCH_ARGS ?=
workshop-bench: setup
	$(BIN)/python tools/workshop_bench.py $(BENCH_ARGS)

# After editing pyproject.toml (the lessons' dependencies, the GitHub home): requirements.txt, badges, Colab cells.
sync: setup
	$(BIN)/python tools/sync.py

# Refresh the pins: in a fresh venv without them (rm -rf .venv; make constraints CONSTRAINTS=), run the tests,
# then write what passed.
constraints: test
	{ echo "# Versions of a passing run: make test on $$(date -u +%Y-%m-%d), Python $(PY_VERSION), $$(uname -s) $$(uname -m)," ; \
	  echo "# $$($(BIN)/python -c 'import torch; print("torch", torch.__version__)') installed first (TORCH, not pinned here). Written by make constraints." ; \
	  $(BIN)/python -m pip freeze --exclude torch --exclude pip | grep -v '^-e ' ; } > constraints.txt

clean:
	rm -rf outputs .cache .pytest_cache

# The course site (README "Course site"): every lesson executed once in fast mode on the shipped sample (offline),
# rendered by mkdocs (mkdocs.yml, site_src/) into _site/; then checked in headless Chromium (Debian's chromium),
# with screenshots in _site/_screenshots/. Two lessons run at a time; SITE_ARGS="--jobs 1" runs one.
CHROMIUM ?= /usr/bin/chromium
SITE_ARGS ?=
.PHONY: site site-check

$(BIN)/.site-installed: $(BIN)/.installed requirements-site.txt
	$(BIN)/python -m pip install $(PIP_CONSTRAINTS) -r requirements-site.txt
	touch $@

site: $(BIN)/.site-installed
	AIMS_MODE=fast HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python site_src/build.py $(SITE_ARGS)

site-check: $(BIN)/.site-installed
	$(BIN)/python tests/site/check_site.py --chromium $(CHROMIUM)
