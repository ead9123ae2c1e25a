# pbmem: build, test and demo entry points.
#   make demo    install dependencies, build, write the example model and run it
#   make build   configure (CMake + Ninja, Release) and build into $(BUILD_DIR)
#   make test    build, then the GoogleTest suite and the Python tests
#   make test-isa   the TF conformance tests again with oneDNN capped to lower ISAs (AVX-512, AVX2,
#                   SSE4.1), each cap that is below this CPU's own
#   make test-asan  the C++ tests and the CLI's bad-input tests under ASan/UBSan (build-asan/)
#   make fuzz    libFuzzer on the loader + load-time shape inference for FUZZ_SECONDS (build-fuzz/)
#   make clean   remove $(BUILD_DIR)

BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PYTHON ?= python3
PBMEM := $(BUILD_DIR)/pbmem
DEMO_SEED ?= 1

.PHONY: all deps build test test-isa test-asan fuzz demo clean

all: build

deps:
	bash scripts/install_deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DPBMEM_BUILD_TESTS=ON

build: $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The full Python suite runs last, so its summary line closes the output.
test: build
	$(BUILD_DIR)/pbmem_tests
	$(MAKE) test-asan
	$(MAKE) fuzz
	$(MAKE) test-isa
	PBMEM_BIN=$(abspath $(PBMEM)) PBMEM_PYTHONPATH=$(abspath $(BUILD_DIR))/python \
	  $(PYTHON) -m pytest -q tests/py

test-isa: build
	PYTHON=$(PYTHON) bash scripts/test_isa.sh $(abspath $(PBMEM)) $(abspath $(BUILD_DIR))/python

ASAN_DIR ?= build-asan
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60

test-asan:
	cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPBMEM_SANITIZE=ON \
	  -DPBMEM_BUILD_PYTHON=OFF -DPBMEM_BUILD_TESTS=ON
	cmake --build $(ASAN_DIR) -j $(JOBS)
	$(ASAN_DIR)/pbmem_tests
	PBMEM_BIN=$(abspath $(ASAN_DIR))/pbmem PBMEM_PYTHONPATH=$(abspath $(BUILD_DIR))/python \
	  $(PYTHON) -m pytest -q tests/py/test_bad_input.py tests/py/test_cli.py tests/py/test_cli_memory.py \
	  tests/py/test_report.py tests/py/test_batch_dir.py tests/py/test_cli_bench.py

# Fuzzes a scratch copy of the seed corpus, so the repository's corpus stays as committed.
fuzz:
	cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DPBMEM_FUZZ=ON -DPBMEM_BUILD_PYTHON=OFF -DPBMEM_BUILD_TESTS=OFF
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzz_loader
	rm -rf $(FUZZ_DIR)/corpus && mkdir -p $(FUZZ_DIR)/corpus
	cd $(FUZZ_DIR) && ./fuzz_loader -max_len=4096 -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 \
	  -print_final_stats=1 corpus $(abspath tests/fuzz/corpus)

demo: deps
	$(MAKE) build
	$(PBMEM) example $(BUILD_DIR)/example.pb --seed $(DEMO_SEED)
	$(PYTHON) -c "import numpy as np; np.save('$(BUILD_DIR)/example_input.npy', \
	  np.random.default_rng($(DEMO_SEED)).random((1, 224, 224, 3), dtype=np.float32))"
	$(PBMEM) inspect $(BUILD_DIR)/example.pb
	$(PBMEM) run $(BUILD_DIR)/example.pb --input input=$(BUILD_DIR)/example_input.npy \
	  --output-dir $(BUILD_DIR)/example_outputs

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(FUZZ_DIR)
