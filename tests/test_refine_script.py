"""CI-sized end-to-end run of experiments/refine.py (003 workflow, no Ray stage)."""

import json
import os
import subprocess
import sys

from ktg_jax.search import exhaustive

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_refine_workflow_end_to_end(tmp_path):
  out = tmp_path / "refine"
  cmd = [sys.executable, "experiments/refine.py", f"--output_dir={out}",
         "--limit=80", "--aux_models=small_cnn", "--gates=through,linear",
         "--num_random=4", "--epochs=1", "--final_epochs=1", "--repeats=0",
         "--final_seeds=0", "--pack_size=64", "--floor=0.0",
         "--stages=random,edf,x,final"]
  run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env={**os.environ, "PYTHONPATH": ROOT,
                                         "JAX_PLATFORMS": "cpu"})
  assert run.returncode == 0, run.stderr[-3000:]
  # A -> X with two gates: X keeps 5 free edges + the tied aux->target pair
  assert "space X: 64 graphs" in run.stdout
  x = exhaustive.read_results(str(out / "exhaustive_X"))
  assert sorted(x) == [(i, 0) for i in range(64)]  # every graph once
  assert len(exhaustive.read_results(str(out / "random_A"))) == 4
  reading = json.loads((out / "reading.json").read_text())
  assert reading["strong"] == "small_cnn"
  assert set(reading["target_gates"]) == {"through", "linear"}
  assert reading["pictures"] and all(
      os.path.exists(p) for p in reading["pictures"].values())
  table = (out / "table.md").read_text()
  assert "| exhaustive on X | 64 x 1 seeds |" in table
