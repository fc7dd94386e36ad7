# Entry points. Each one installs missing Debian packages itself.
.PHONY: demo test build bench fuzz clean

demo:   ## the end-to-end demo (no hardware, no cloud account)
	scripts/demo

test:   ## every test: unit, vectors, integration, e2e, short fuzz runs
	scripts/test

build:  ## build only (gcc, sanitizers on)
	scripts/setup && cmake -S . -B build/test && cmake --build build/test -j$$(nproc)

bench:  ## benchmarks under bench/ (numbers, not pass/fail)
	scripts/bench

fuzz:   ## long fuzz runs: every libFuzzer target, 1,000,000 inputs each (scripts/fuzz -h)
	scripts/fuzz

clean:
	rm -rf build

.PHONY: coverage
coverage: ## line and branch coverage of the gcc test suite, per component (scripts/coverage -h; not part of make test)
	scripts/coverage

.PHONY: interop
interop: ## the official Azure IoT Node.js device SDK against localhub (device and module clients)
	tests/interop/hub_node_sdk.sh
	tests/interop/hub_node_sdk_module.sh
