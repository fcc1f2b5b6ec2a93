# Monitoring (issue 12). The main Makefile includes this file: `-include mk/*.mk`.
.PHONY: bench-monitoring bench-drift

bench-monitoring: install bench-deps ## p50/p99 at c1/c32 with the prediction log and a shadow on vs off, in one run
	HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false $(BIN)/python bench/bench_monitoring.py $(BENCH_ARGS)

bench-drift: install ## the unknown_words drift score as a feed switches language, 0-100% foreign (BENCH_ARGS="--data DIR")
	$(BIN)/python bench/drift_sensitivity.py $(BENCH_ARGS)
