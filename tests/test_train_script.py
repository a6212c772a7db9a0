"""experiments/train.py end to end (its main, in a subprocess: absl flags are global)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "experiments", "train.py")
CONFIG = os.path.join(ROOT, "experiments", "configs", "digits.py")


def _train(*flags):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, TRAIN, f"--config={CONFIG}",
                        "--config.epochs=1", "--config.limit=200", *flags],
                       capture_output=True, text=True, env=env, cwd=ROOT,
                       timeout=300, check=False)
  assert out.returncode == 0, out.stderr[-3000:]
  return out.stdout


def test_vanilla_then_kd_from_its_printed_checkpoint(tmp_path):
  out = _train("--graph=vanilla", f"--workdir={tmp_path / 'teacher'}")
  line = [l for l in out.splitlines() if "--teacher_checkpoint=" in l][-1]
  teacher = line.split("--teacher_checkpoint=")[1].strip()
  assert os.path.isdir(teacher)
  out = _train("--graph=kd", "--config.models=small_cnn,small_cnn",
               f"--teacher_checkpoint={teacher}", "--mode=final",
               f"--workdir={tmp_path / 'kd'}")
  assert "kd: target node 0 (small_cnn) test accuracy" in out
  for name in ("graph.png", "gates.png", "curves.png", "metrics.jsonl",
               "split_indices.npz", "graph.json"):
    assert os.path.getsize(tmp_path / "kd" / name) > 0
