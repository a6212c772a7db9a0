"""`make demo`: Vanilla vs DML in the regime the reproduction measured.

The regime of benchmarks/FIDELITY.md (experiments/configs/
reproduce_fashion_pairs.py): 100-class Fashion-MNIST pairs at 14 x 28,
2,000 training pairs, 15 epochs, resnet8 target; DML = two resnet8 nodes
with KL edges both ways (``ktg_jax.reproduce.ROWS``). Scored on 10,000 test
pairs. Seeds run one round (Vanilla + DML) at a time while the wall-clock
budget allows; the table gives mean ± std over the rounds that ran, Welch's
p-value, and the reproduction's 5-seed numbers to compare with.

  JAX_PLATFORMS=cpu python experiments/demo.py [--budget_s=540]
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ktg_jax import data as data_lib  # pylint: disable=wrong-import-position
from ktg_jax import reproduce as rp  # pylint: disable=wrong-import-position
from ktg_jax import training  # pylint: disable=wrong-import-position

_BUDGET = flags.DEFINE_float("budget_s", 540.0, "wall-clock budget (seconds)")
_SEEDS = flags.DEFINE_string("seeds", "0,1,2,3,4", "seeds, while time allows")
_EPOCHS = flags.DEFINE_integer("epochs", None, "override the config's epochs")
_LIMIT = flags.DEFINE_integer("limit", None, "override the training pairs")
_WORKDIR = flags.DEFINE_string("workdir", "runs/demo", "where runs go")

ROWS = ("vanilla", "dml")
CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs",
                      "reproduce_fashion_pairs.py")


def demo_config():
  spec = importlib.util.spec_from_file_location("repro_config", CONFIG)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = training.default_config()
  c.update({k: v for k, v in module.get_config().items() if k in c})
  c.eval_split, c.keep_checkpoints = "test", 1
  if _EPOCHS.value:
    c.epochs = _EPOCHS.value
  if _LIMIT.value:
    c.limit = _LIMIT.value
  return c, module.get_config()


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  start = time.time()
  config, protocol = demo_config()
  data = data_lib.load(config.dataset, seed=0, val_fraction=0.0,
                       limit=config.limit)
  print(f"{config.dataset}: {len(data.train.labels)} train / "
        f"{len(data.test.labels)} test pairs, {data.num_classes} classes, "
        f"{config.epochs} epochs, budget {_BUDGET.value:.0f} s", flush=True)
  ctx = rp.Context(protocol, None, None, None)
  results = {name: [] for name in ROWS}
  round_sec = 0.0
  for k, seed in enumerate(int(s) for s in _SEEDS.value.split(",")):
    if k and time.time() - start + round_sec > _BUDGET.value:
      print(f"stopping after {k} seed(s): another round (~{round_sec:.0f} s)"
            " would exceed the budget", flush=True)
      break
    round_start = time.time()
    for name in ROWS:
      cfg = config.copy_and_resolve_references()
      cfg.seed = seed
      workdir = os.path.join(_WORKDIR.value, name, f"seed{seed}")
      print(f"--- {rp.ROWS[name].label}, seed {seed} -> {workdir}",
            flush=True)
      r = training.fit(rp.ROWS[name].build(ctx), data, cfg, workdir)
      results[name].append(r.final_target_accuracy)
    round_sec = time.time() - round_start
  _report(results, time.time() - start)


def _report(results, seconds):
  n = len(results["vanilla"])
  print(f"\ntest accuracy of the resnet8 target, {n} seed(s), "
        f"{seconds:.0f} s wall-clock:\n")
  print("| graph | test acc. (%) |\n|---|---|")
  for name, accs in results.items():
    acc = 100 * np.asarray(accs)
    spread = f" ± {acc.std(ddof=1):.2f}" if n > 1 else " (1 seed, no std)"
    print(f"| {rp.ROWS[name].label} | {acc.mean():.2f}{spread} |")
  if n > 1:
    print(f"\nDML - Vanilla: {100 * (np.mean(results['dml']) - np.mean(results['vanilla'])):+.2f}"
          f" points, Welch p = {rp.welch_p(results['dml'], results['vanilla']):.3f}")
  print("\nIn this regime the reproduction (5 seeds a row, 2026-11-23) "
        "measured DML 58.10 ± 0.48 vs Vanilla 57.79 ± 0.48 %, Welch p = 0.35:"
        " no gain beyond the seed noise at this scale, unlike CIFAR-100's "
        "+1.3. Table, published numbers, rows not run: benchmarks/FIDELITY.md",
        flush=True)


if __name__ == "__main__":
  app.run(main)
