# agnews: one entry point. `make run` starts the stack locally, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= hf:fancyzhx/ag_news
REGISTRY ?= registry
PRESET ?= minilm-blend
TRAIN ?= minilm-blend
PYTEST_ARGS ?=

SERVICE_PROJECTS := packages/agnews_core services/trainer services/inference services/gateway
EDITABLES := $(foreach p,$(wildcard $(SERVICE_PROJECTS) services/deploy),-e $(p))

.PHONY: help install run test test-fast lint typecheck format bench-accuracy bench-train-speed clean

help: ## list targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "%-22s %s\n", $$1, $$2}'

install: $(VENV)/.installed ## create .venv with every service package, console scripts and dev tools

# torch first, from its pinned CPU wheel: any looser requirement would pull a multi-GB CUDA build.
$(VENV)/.installed: constraints.txt requirements-dev.txt $(wildcard packages/*/pyproject.toml services/*/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt $(EDITABLES) -r requirements-dev.txt
	touch $@

run: install ## the whole stack locally on embedded defaults (DATA=, REGISTRY=, TRAIN=)
	DATA="$(DATA)" REGISTRY="$(REGISTRY)" TRAIN="$(TRAIN)" VENV="$(VENV)" bash scripts/run.sh

test: install ## every test (unit, pipeline, stack, browser, deploy checks)
	bash scripts/test.sh $(PYTEST_ARGS)

lint: install ## ruff lint + format check
	$(BIN)/ruff check packages services tests bench
	$(BIN)/ruff format --check packages services tests bench

typecheck: install ## mypy on every package
	$(BIN)/mypy packages/agnews_core/src services/trainer/src services/inference/src services/gateway/src

format: install
	$(BIN)/ruff format packages services tests bench
	$(BIN)/ruff check --fix packages services tests bench

bench-accuracy: install ## recipes vs tfidf, scored as served, with intervals and paired tests (../shared/data/agnews)
	$(BIN)/python bench/bench_accuracy.py --data $(if $(filter hf:%,$(DATA)),../shared/data/agnews,$(DATA)) $(BENCH_ARGS)

bench-train-speed: install ## our training loop vs transformers.Trainer, examples/s
	$(BIN)/python bench/bench_train_speed.py --data $(if $(filter hf:%,$(DATA)),../shared/data/agnews,$(DATA)) $(BENCH_ARGS)

clean:
	rm -rf .run artifacts test-artifacts .pytest_cache .mypy_cache .ruff_cache

-include mk/*.mk
