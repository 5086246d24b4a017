# Single entry point. `make test` and `make demo` each do their own set-up from nothing first.
#
#   make setup   create .venv (unless a virtual environment is active), build mmcv, install everything
#   make test    set-up, then the test suite
#   make demo    set-up, prepare the tree-crown data, train the demo config, evaluate, print the mAP
#   make data    only prepare the demo data (tree crowns + synthetic shapes)

SHELL := /bin/bash
PYTHON ?= $(if $(SSOD_PYTHON),$(SSOD_PYTHON),$(if $(VIRTUAL_ENV),$(VIRTUAL_ENV)/bin/python,$(CURDIR)/.venv/bin/python))
PYTEST_ARGS ?=
DEMO_SEED ?= 0
DEMO_WORK_DIR ?= work_dirs/demo

.PHONY: setup test demo data

setup:
	bash tools/setup_env.sh

test: setup
	$(PYTHON) -m pytest $(PYTEST_ARGS)

data: setup
	$(PYTHON) tools/data/prepare_tree_crowns.py --out data/tree_crowns
	$(PYTHON) tools/data/make_synthetic.py --out data/synthetic

demo: setup
	$(PYTHON) tools/data/prepare_tree_crowns.py --out data/tree_crowns
	$(PYTHON) tools/demo.py --seed $(DEMO_SEED) --work-dir $(DEMO_WORK_DIR)/seed$(DEMO_SEED)
