"""CI-sized end-to-end run of experiments/refine.py (003 workflow, no Ray stage)."""

import json
import os
import subprocess
import sys

from ktg_jax.search import exhaustive

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_refine_workflow_end_to_end(tmp_path):
  out = tmp_path / "refine"
  cmd = [sys.executable, "experiments/refine.py", f"--workdir={out}",
         "--config.limit=80", "--config.aux_models=small_cnn",
         "--config.gates=through,linear", "--config.num_random=4",
         "--config.epochs=1", "--config.final_epochs=1",
         "--config.search_seeds=0", "--seeds=0", "--config.pack_size=64",
         "--config.floor=0.0", "--config.stages=random,edf,x,final"]
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
