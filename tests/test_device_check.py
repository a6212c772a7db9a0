"""benchmarks/device_check.py --dry-run: the one-call GPU check stays alive on
the CPU (tiny sizes, its own clock), and the library imports and trains
without the packages the device image lacks."""

import json
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BLOCKED = textwrap.dedent("""
    import sys
    for m in ("ray", "nevergrad", "tensorflow_datasets", "tensorflow",
              "ml_collections", "dm_pix", "tensorboardX"):
      sys.modules[m] = None  # any import of them raises ImportError
    import jax, numpy as np
    import ktg_jax as ktg
    p = ktg.compile(ktg.classic.dml(["small_cnn"] * 2), num_classes=3,
                    total_steps=4, optimizer=ktg.optim.sgd(0.1))
    x = np.zeros((4, 8, 8, 1), np.float32)
    s = p.init(jax.random.PRNGKey(0), x)
    s, m = p.step(s, {"image": x, "label": np.zeros(4, np.int32)})
    from ktg_jax.run import population  # noqa: F401
    from ktg_jax.core import precision  # noqa: F401
    print("OK", float(m["node_loss"][0]))
""")


def test_library_trains_without_ray_nevergrad_tfds_ml_collections():
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
  res = subprocess.run([sys.executable, "-c", BLOCKED], env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
  assert res.returncode == 0, res.stderr[-2000:]
  assert res.stdout.startswith("OK ")
  # log(3): three classes, zero images, zero-initialised classifier bias
  assert abs(float(res.stdout.split()[1]) - 1.0986123) < 1e-3


def test_dry_run_writes_json_table_and_log_within_its_budget(tmp_path):
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
  env.pop("OUT", None)
  res = subprocess.run(
      [sys.executable, "benchmarks/device_check.py", "--dry-run", "--out",
       str(tmp_path)], env=env, cwd=ROOT, capture_output=True, text=True,
      timeout=600)
  assert res.returncode == 0, res.stderr[-3000:]
  names = set(os.listdir(tmp_path))
  assert {"device_check.json", "device_check.md",
          "device_check.log"} <= names, names
  result = json.loads((tmp_path / "device_check.json").read_text())
  assert result["dry_run"] and result["env"]["backend"] == "cpu"
  assert not result.get("failures"), result.get("failures")
  # the budget is the script's own: what ran plus the check's last steps
  # fit in it, what did not fit is listed as skipped
  assert result["elapsed_s"] <= result["budget_s"] + 15, result["elapsed_s"]
  done = {"tests": "tests" in result, "speed": bool(result.get("speed")),
          "population": bool(result.get("population")),
          "precision": bool(result.get("precision"))}
  skipped = " ".join(s["what"] for s in result["skipped"])
  for section, ran in done.items():
    assert ran or section in skipped, (section, result)
  for row in result.get("speed", []):
    assert row["steps_per_s"] and all(v > 0 for v in
                                       row["steps_per_s"].values())
  table = (tmp_path / "device_check.md").read_text()
  assert "DRY RUN" in table and "Devices: cpu" in table
