# collar-kd: the everyday entry points. `make help` lists them.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
RUN_DIR ?= runs/demo

.PHONY: help setup demo test bench-accuracy clean

help:
	@echo "make setup           install collar-kd and its Python dependencies (torch==2.13.0, CPU)"
	@echo "make demo            setup, then train on the built-in synthetic data into $(RUN_DIR)"
	@echo "make test            run the test suite"
	@echo "make bench-accuracy  leave-one-animal-out on ../shared/datasets/wasp_cow_walking -> bench/results/accuracy.json"

setup:
	$(PIP) install --quiet -e '.[test]'

# The main job on the built-in default data: a small leave-one-animal-out run (about a minute).
demo: setup
	collar-kd train --data synthetic --out $(RUN_DIR) --teacher-epochs 6 --student-epochs 15 --force
	collar-kd info $(RUN_DIR)

test:
	$(PYTHON) -m pytest -q

bench-accuracy:
	$(PYTHON) bench/accuracy.py

clean:
	rm -rf runs build .pytest_cache
