# Two commands do everything on a fresh machine (see README.md):
#   make demo   set up, then train Vanilla vs DML on 100-class Fashion-MNIST pairs (CPU)
#   make test   set up, then run the whole test suite (what .ci/run calls)
#   make docs   the API reference (docs/api/index.html)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup data test demo bench docs clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q -e .
	$(PY) -m pip check
	touch $@

setup: $(STAMP)

# Fashion-MNIST as IDX files from Debian (the one real data set that can be had offline).
data:
	@test -d /usr/share/datasets/fashion-mnist || \
	  { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; } || \
	  echo "could not install dataset-fashion-mnist; run: apt-get install dataset-fashion-mnist"

test: setup data
	JAX_PLATFORMS=cpu $(PY) -m pytest -n 2 --dist loadfile

# XNNPACK convolutions: x1.6 at 1 thread on this 2-core CPU (benchmarks/RESULTS.md
# section 2); no gain at the default threads (section B). The tests keep XLA's defaults.
CPU_FAST := JAX_PLATFORMS=cpu XLA_FLAGS=--xla_cpu_use_xnnpack=true

demo: setup data
	$(CPU_FAST) $(PY) experiments/demo.py

# As users run: all cores (each framework's default threads); jax_dp splits
# the batch over one forced host device per core. Then 1 thread each.
bench: setup
	JAX_PLATFORMS=cpu $(PY) benchmarks/step_speed.py --quick \
	  --frameworks jax,jax_dp,torch --devices $$(nproc)
	JAX_PLATFORMS=cpu $(PY) benchmarks/step_speed.py --quick --threads 1

# API reference from the docstrings (pdoc): docs/api/index.html.
# tests/test_docs.py builds it too, so it cannot rot.
docs: setup
	JAX_PLATFORMS=cpu $(PY) docs/api.py docs/api

clean:
	rm -rf $(VENV) runs
