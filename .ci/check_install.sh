#!/usr/bin/env bash
# The package as a user installs it: `pip install .` and `pip install .[search,data]`
# each in a fresh venv (from the package registry, not the pinned requirements),
# `pip check`, the README quickstart (examples/quickstart.py) on CPU and its
# command-line twin as the installed `ktg-train`.
#   bash .ci/check_install.sh            # both venvs
#   bash .ci/check_install.sh plain      # only `pip install .`
# Not part of .ci/run (it downloads ~1 GB of wheels); see docs/install.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
TMP=$(mktemp -d /tmp/ktg_install.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
export JAX_PLATFORMS=cpu
what=${1:-all}

step() { echo "== $(date -u +%H:%M:%S) $*"; }

step "venv 1: pip install ."
$PYTHON -m venv "$TMP/v1"
"$TMP/v1/bin/pip" install -q --upgrade pip
"$TMP/v1/bin/pip" install -q "$ROOT"
"$TMP/v1/bin/pip" check
step "venv 1: import, version, quickstart"
cd "$TMP"  # not the repo: the installed package must be the one imported
"$TMP/v1/bin/python" -c "import ktg_jax, sys; assert ktg_jax.__file__.startswith('$TMP'), ktg_jax.__file__; print('ktg_jax', ktg_jax.__version__)"
"$TMP/v1/bin/python" "$ROOT/examples/quickstart.py" | tail -1
step "venv 1: ktg-train (console script) on the quickstart's graph"
"$TMP/v1/bin/ktg-train" --config="$ROOT/experiments/configs/quickstart.py" \
  --graph=runs/quickstart/graph.json --config.epochs=1 --workdir="$TMP/cli_run" | tail -1
cd "$ROOT"
[ "$what" = plain ] && { step "done"; exit 0; }

step "venv 2: pip install .[search,data]"
$PYTHON -m venv "$TMP/v2"
"$TMP/v2/bin/pip" install -q --upgrade pip
"$TMP/v2/bin/pip" install -q "$ROOT[search,data]"
"$TMP/v2/bin/pip" check
step "venv 2: the extras import; digits loads"
cd "$TMP"
"$TMP/v2/bin/python" -c "
import ktg_jax.search.tune, tensorflow_datasets, sklearn
import ktg_jax as ktg
print('digits train', ktg.load_data('digits').train.images.shape)"
cd "$ROOT"
step "done"
