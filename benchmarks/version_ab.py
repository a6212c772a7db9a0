"""Steps/s of the ch.3 3-node ResNet-20 step: this checkout vs a git ref, A/B.

Issue 9 asks that generalising the core (node kinds, views, slots) not slow a
ch.3 graph. This script extracts ``ktg_jax/`` and
``benchmarks/compile_and_steps.py`` of ``--base`` into a temporary folder and
runs each version's own copy of that benchmark (the same workload; only its
imports follow the package's layout) alternately (B A B A ..., each in a fresh
process), then prints the median steps/s of each and the ratio head / base.

  JAX_PLATFORMS=cpu python benchmarks/version_ab.py --base 12a3f20 --rounds 3
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join("benchmarks", "compile_and_steps.py")


def extract(ref: str, into: str) -> None:
  archive = subprocess.run(["git", "-C", ROOT, "archive", ref, "ktg_jax",
                            SCRIPT],
                           check=True, capture_output=True).stdout
  path = os.path.join(into, "src.tar")
  with open(path, "wb") as f:
    f.write(archive)
  with tarfile.open(path) as tar:
    tar.extractall(into, filter="data")


def steps_per_second(root: str, steps: int) -> float:
  """Runs ``root``'s own benchmark script against ``root``'s package."""
  env = {**os.environ, "PYTHONPATH": root}
  out = subprocess.run([sys.executable, os.path.join(root, SCRIPT),
                        "--steps", str(steps)],
                       env=env, check=True, capture_output=True, text=True)
  return float(re.search(r"= ([\d.]+) steps/s", out.stdout).group(1))


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--base", required=True, help="git ref of the 'before' core")
  p.add_argument("--rounds", type=int, default=3)
  p.add_argument("--steps", type=int, default=10)
  args = p.parse_args()
  with tempfile.TemporaryDirectory() as tmp:
    extract(args.base, tmp)
    base, head = [], []
    for r in range(args.rounds):
      base.append(steps_per_second(tmp, args.steps))
      head.append(steps_per_second(ROOT, args.steps))
      print(f"round {r}: base {base[-1]:.3f}  head {head[-1]:.3f} steps/s",
            flush=True)
  b, h = statistics.median(base), statistics.median(head)
  ratios = [y / x for x, y in zip(base, head)]
  print(f"median steps/s: base ({args.base}) {b:.3f}, head {h:.3f}; "
        f"head/base {h / b:.3f} (per-round ratios "
        f"{', '.join(f'{x:.3f}' for x in ratios)})")


if __name__ == "__main__":
  main()
