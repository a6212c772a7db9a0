"""The API reference builds from the docstrings (what `make docs` runs), and
the front door's names are in it."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_api_reference_builds(tmp_path):
  pytest.importorskip("pdoc")
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, os.path.join(ROOT, "docs", "api.py"),
                        str(tmp_path)], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  with open(tmp_path / "ktg_jax.html") as f:
    page = f.read()
  for name in ("GraphSpec", "compile", "load_data", "default_config"):
    assert name in page, name
  for module in ("core/spec", "core/step", "run/training", "search/tune",
                 "data/names", "families/ssl/learner"):
    assert os.path.exists(tmp_path / "ktg_jax" / f"{module}.html"), module
  with open(tmp_path / "ktg_jax" / "run" / "training.html") as f:
    assert "default_config" in f.read()
