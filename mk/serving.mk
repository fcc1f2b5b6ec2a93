# Serving benchmark (issue 3). The main Makefile includes this file: `-include mk/*.mk`.
.PHONY: bench-serving soak test-faults

bench-serving: install ## inference service vs a naive transformers.pipeline server: texts/s, p50/p99 at c1/8/32
	HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false $(BIN)/python bench/bench_serving.py $(BENCH_ARGS)

soak: install ## bounded soak: batch jobs + classify load while the batch worker is killed and Redis restarts (SOAK_ARGS=)
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

test-faults: install ## the fault suite alone (kill -9, SIGTERM, Redis stopped, corrupt promote, retention); part of make test
	$(BIN)/pytest tests/faults -m faults -s $(PYTEST_ARGS)
