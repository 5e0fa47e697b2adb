# mmvitplug: `make demo` shows the product on CPU (40-50 min on 2 cores), `make test` runs the test suite.
# Both install everything first (`make setup`): a Python 3.11 venv in .venv with the pinned
# OpenMMLab 2.x stack (see tools/setup_env.sh). A second `make setup` takes seconds.

VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DATA ?= data/demo
DEMO_WORK_DIR ?= work_dirs/demo
# The suite runs on one pytest-xdist worker per core (at most 4), each test file on one worker
# (module fixtures are built once); TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$(( n < 4 ? n : 4 )))
PYTEST_ARGS ?=

.PHONY: setup demo demo-data test clean-demo help

help:
	@echo "make demo   install, generate the demo dataset, train + evaluate a detector and three"
	@echo "            segmentors on CPU (40-50 min on 2 cores; SEG_FAMILIES=fastervit for one),"
	@echo "            run the inference APIs and draw the attention (results under $(DEMO_WORK_DIR)/)"
	@echo "make test   install and run the test suite (one worker per core; TEST_WORKERS=0: one process)"
	@echo "make setup  install only (.venv)"

setup:
	@VENV=$(VENV) bash tools/setup_env.sh

demo-data: setup
	@$(PY) tools/make_demo_data.py --out $(DEMO_DATA)

demo: demo-data
	@VENV=$(VENV) DEMO_DATA=$(DEMO_DATA) DEMO_WORK_DIR=$(DEMO_WORK_DIR) bash tools/run_demo.sh

test: setup
	@echo "[test] running the test suite"
	@$(PY) -m pytest tests -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

clean-demo:
	rm -rf $(DEMO_WORK_DIR) $(DEMO_DATA)
