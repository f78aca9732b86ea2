# genre_lightning — everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ARGS ?=
PYTEST_ARGS ?=

.PHONY: install demo train test lint tensorboard clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install the package (editable) with its dev extras

demo: install ## train ResNet on the built-in synthetic genres (CPU, ~2 min)
	$(PY) -m genre_lightning experiment=demo $(ARGS)

train: install ## train with the default config (GTZAN under data/gtzan); make train ARGS="model=alexnet"
	$(PY) -m genre_lightning $(ARGS)

test: install ## the test suite (CPU)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install ## ruff + mypy
	$(PY) -m ruff check genre_lightning tests
	$(PY) -m ruff format --check genre_lightning tests
	$(PY) -m mypy

tensorboard: install ## curves of every run under outputs/
	$(VENV)/bin/tensorboard --logdir outputs

clean: ## remove run outputs and tool caches (keeps .venv and data/)
	find outputs -mindepth 1 -not -name .gitkeep -delete
	rm -rf .pytest_cache .mypy_cache .ruff_cache lightning_logs
