# Serving benchmarks (issues 3 and 11) and the unattended-operation checks (issue 9). The main Makefile includes
# this file: `-include mk/*.mk`. Figures mean something only on a quiet machine: these print, they never fail on a number.
.PHONY: bench-deps bench-serving bench-backends bench-gateway-overhead bench-load-stall soak test-faults

bench-deps: ## wrk and redis-server from Debian, where missing (the load benchmarks need them)
	bash scripts/bench-deps.sh

bench-serving: install bench-deps ## inference vs a naive transformers.pipeline server: c1/8/32, c128 shedding, gateway, batch job
	HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false $(BIN)/python bench/bench_serving.py $(BENCH_ARGS)

bench-backends: install ## runtime choice: torch / onnx / onnx-int8 texts/s by threads x batch, int8 accuracy cost
	HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false $(BIN)/python bench/bench_inference_backends.py $(BENCH_ARGS)

bench-gateway-overhead: install ## where the gateway's added latency goes: validation, re-encoding, thread hop, Redis, HTTP client
	$(BIN)/python bench/bench_gateway_overhead.py $(BENCH_ARGS)

bench-load-stall: install ## how long compiling a new version to ONNX stalls the serving threads: in-process vs child process
	HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false $(BIN)/python bench/bench_load_stall.py $(BENCH_ARGS)

soak: install bench-deps ## bounded soak: batch jobs + classify load while the batch worker is killed and Redis restarts (SOAK_ARGS=)
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

test-faults: install ## the fault suite alone (kill -9, SIGTERM, Redis stopped, corrupt promote, retention); part of make test
	$(BIN)/pytest tests/faults -m faults -s $(PYTEST_ARGS)
