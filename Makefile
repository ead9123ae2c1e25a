# pbmem: build, test and demo entry points.
#   make demo    install dependencies, build, write the example model and run it
#   make build   configure (CMake + Ninja, Release) and build into $(BUILD_DIR)
#   make test    build, then the GoogleTest suite and the Python tests
#   make clean   remove $(BUILD_DIR)

BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PYTHON ?= python3
PBMEM := $(BUILD_DIR)/pbmem
DEMO_SEED ?= 1

.PHONY: all deps build test demo clean

all: build

deps:
	bash scripts/install_deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DPBMEM_BUILD_TESTS=ON

build: $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	$(BUILD_DIR)/pbmem_tests
	PBMEM_BIN=$(abspath $(PBMEM)) PBMEM_PYTHONPATH=$(abspath $(BUILD_DIR))/python \
	  $(PYTHON) -m pytest -q tests/py

demo: deps
	$(MAKE) build
	$(PBMEM) example $(BUILD_DIR)/example.pb --seed $(DEMO_SEED)
	$(PYTHON) -c "import numpy as np; np.save('$(BUILD_DIR)/example_input.npy', \
	  np.random.default_rng($(DEMO_SEED)).random((1, 224, 224, 3), dtype=np.float32))"
	$(PBMEM) inspect $(BUILD_DIR)/example.pb
	$(PBMEM) run $(BUILD_DIR)/example.pb --input input=$(BUILD_DIR)/example_input.npy \
	  --output-dir $(BUILD_DIR)/example_outputs

clean:
	rm -rf $(BUILD_DIR)
