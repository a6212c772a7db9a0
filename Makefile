# Two commands do everything on a fresh machine (see README.md):
#   make demo   set up, then train Vanilla / DML / a 3-node KTG graph on Fashion-MNIST (CPU)
#   make test   set up, then run the whole test suite (what .ci/run calls)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup data test demo bench clean

$(STAMP): requirements.txt requirements-dev.txt setup.cfg
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

setup: $(STAMP)

# Fashion-MNIST as IDX files from Debian (the one real data set that can be had offline).
data:
	@test -d /usr/share/datasets/fashion-mnist || \
	  { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; } || \
	  echo "could not install dataset-fashion-mnist; run: apt-get install dataset-fashion-mnist"

test: setup data
	JAX_PLATFORMS=cpu $(PY) -m pytest

demo: setup data
	JAX_PLATFORMS=cpu $(PY) experiments/demo.py

bench: setup
	JAX_PLATFORMS=cpu $(PY) benchmarks/step_speed.py

clean:
	rm -rf $(VENV) runs
