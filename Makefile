# collar-kd: the everyday entry points. `make help` lists them.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
RUN_DIR ?= runs/demo

.PHONY: help setup demo test verify toolchain bench-accuracy bench-peers bench-data-free bench-predict bench-mounts bench-quant bench-mcu bench-methods clean

help:
	@echo "make setup           install collar-kd and its Python dependencies (torch==2.13.0, CPU)"
	@echo "make demo            setup, then train on the built-in synthetic data into $(RUN_DIR)"
	@echo "make test            run the test suite"
	@echo "make verify          export a small model and prove the C bit-exact on host (ASan/UBSan), Cortex-M4 and Cortex-M3 (QEMU)"
	@echo "make verify EXPORT=DIR  the same for an existing export"
	@echo "make toolchain       install arm-none-eabi-gcc, newlib, qemu-system-arm and cmake (Debian packages)"
	@echo "make bench-accuracy  leave-one-animal-out on ../shared/datasets/wasp_cow_walking -> bench/results/accuracy.json"
	@echo "make bench-peers     aeon's MiniRocket and Hydra on the same windows and folds (own venv) -> bench/results/peers.json"
	@echo "make bench-predict   collar-kd predict on all shared WASP data (float and simulator) and a 62.5 Hz day: throughput, memory; smoothing on LOAO -> bench/results/predict.json"
	@echo "make bench-mounts    wasp_cow_mounts end to end through its layout, leave-one-animal-out -> bench/results/mounts.json"
	@echo "make bench-data-free data-free student (DAFL with its collar additions) vs bench-accuracy's KD student, same fold teachers -> bench/results/data_free.json"
	@echo "make bench-quant     MCC after fixed-point quantization (needs bench-accuracy's fold models) -> bench/results/quant.json"
	@echo "make bench-methods  every distillation method (kd, qat-kd, speq, ensemble, feed, data-free), float and 8-bit -> bench/results/methods.{json,md}"
	@echo "make bench-mcu       flash, RAM, stack, exact instructions, estimated cycles and energy per window on Cortex-M4/M3 (QEMU),"
	@echo "                     beside CMSIS-NN's kernels (../shared/peers) and the forest baseline via emlearn -> bench/results/mcu.json"

setup:
	$(PIP) install --quiet -e '.[test]'

# The main job on the built-in default data: a small leave-one-animal-out run (about two minutes).
demo: setup
	collar-kd train --data synthetic --out $(RUN_DIR) --teacher-epochs 6 --student-epochs 15 --force
	collar-kd info $(RUN_DIR)

# Installs the Python dependencies first; the Cortex-M tests skip (saying why) until `make toolchain`.
test: setup
	$(PYTHON) -m pytest -q

bench-accuracy:
	$(PYTHON) bench/accuracy.py

bench-peers:
	$(PYTHON) bench/peers.py

bench-data-free:
	$(PYTHON) bench/data_free.py

bench-predict:
	$(PYTHON) bench/predict.py

bench-mounts:
	$(PYTHON) bench/mounts.py

bench-quant:
	$(PYTHON) bench/quant.py

bench-methods:
	$(PYTHON) bench/methods.py

bench-mcu: toolchain
	$(PYTHON) bench/mcu.py

# The cross-compiler and emulator for `make verify`, and CMake for the export's library target
# (Debian packages; about 40 s).
toolchain:
	@command -v arm-none-eabi-gcc >/dev/null && command -v qemu-system-arm >/dev/null && command -v cmake >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm cmake >/dev/null; }

VERIFY_DIR ?= build/verify
ifdef EXPORT
verify:
	collar-kd verify $(EXPORT) --build-dir $(VERIFY_DIR)/build
else
# A small synthetic model, trained and exported here, so `make verify` needs nothing else. It is
# trained at the synthetic data's 25 Hz; the ear tag's sensor is set to 25 Hz for it (--device-rate).
verify:
	collar-kd train --data synthetic --cv none --out $(VERIFY_DIR)/run --teacher-epochs 2 --student-epochs 6 --force --quiet
	collar-kd export $(VERIFY_DIR)/run --target eartag --device-rate 25 --out $(VERIFY_DIR)/export --windows 1000 --count-instructions --force
	collar-kd verify $(VERIFY_DIR)/export --build-dir $(VERIFY_DIR)/build
endif

clean:
	rm -rf runs build .pytest_cache
