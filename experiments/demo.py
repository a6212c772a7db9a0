"""`make demo`: Vanilla, DML and a 3-node KTG graph on Fashion-MNIST, on a CPU.

All three graphs get the same budget: the same target model (resnet8), the
same training images, epochs, batch size and optimizer
(experiments/configs/fashion_mnist.py, shortened to fit a 2-core CPU in ten
minutes, compilation included). They train on a subset of the training set
and are scored on the first ``--limit`` test images (final mode, SPEC §4: no
model selection happens here, so no validation split is held out). More
seeds run only while the wall-clock budget allows; the table says how many.

  JAX_PLATFORMS=cpu python experiments/demo.py [--budget_s=540]
"""

from __future__ import annotations

import os
import sys
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ktg_jax as ktg  # pylint: disable=wrong-import-position
from ktg_jax import data as data_lib  # pylint: disable=wrong-import-position
from ktg_jax import gates as G  # pylint: disable=wrong-import-position
from ktg_jax import training  # pylint: disable=wrong-import-position
from configs import fashion_mnist  # pylint: disable=wrong-import-position

_BUDGET = flags.DEFINE_float("budget_s", 540.0, "wall-clock budget (seconds)")
_LIMIT = flags.DEFINE_integer("limit", 5000, "train / test images used")
_EPOCHS = flags.DEFINE_integer("epochs", 3, "epochs per graph")
_SEEDS = flags.DEFINE_string("seeds", "0,1,2", "seeds, run while time allows")
_WORKDIR = flags.DEFINE_string("workdir", "runs/demo", "where runs go")

TARGET, AUX = "resnet8", "small_cnn"


def ktg3() -> ktg.GraphSpec:
  """A hand-written 3-node KTG (SPEC §1, §3): the target learns from the label
  and, late in training, from both auxiliaries (Linear, Sine); the auxiliaries
  learn from the label, from each other, and from the target only on samples
  it gets right (Correct)."""
  return ktg.GraphSpec(nodes=[TARGET, AUX, AUX], edges={
      ("label", 0): G.Through(), ("label", 1): G.Through(),
      ("label", 2): G.Through(),
      (1, 0): G.Linear(), (2, 0): G.Sine(f=0.5, phi=4.71),
      (0, 1): G.Correct(), (0, 2): G.Correct(),
      (1, 2): G.Through(), (2, 1): G.Through()})


GRAPHS = {
    "Vanilla": lambda: ktg.classic.vanilla(TARGET),
    "DML": lambda: ktg.classic.dml([TARGET, AUX]),
    "KTG (3 nodes)": ktg3,
}


def demo_config():
  c = fashion_mnist.get_config()
  c.epochs, c.limit, c.val_fraction, c.eval_split = (
      _EPOCHS.value, _LIMIT.value, 0.0, "test")
  c.keep_checkpoints = 1
  return c


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  start = time.time()
  config = demo_config()
  data = data_lib.load("fashion_mnist", seed=0, val_fraction=0.0,
                       limit=config.limit)
  print(f"Fashion-MNIST: {len(data.train.labels)} train / "
        f"{len(data.test.labels)} test images, {config.epochs} epochs, batch "
        f"{config.batch_size}, budget {_BUDGET.value:.0f} s", flush=True)
  results = {name: [] for name in GRAPHS}
  seeds = [int(s) for s in _SEEDS.value.split(",")]
  round_sec = 0.0
  for k, seed in enumerate(seeds):
    if k and time.time() - start + round_sec > _BUDGET.value:
      print(f"stopping after {k} seed(s): another round (~{round_sec:.0f} s) "
            "would exceed the budget", flush=True)
      break
    round_start = time.time()
    for name, build in GRAPHS.items():
      cfg = config.copy_and_resolve_references()
      cfg.seed = seed
      workdir = os.path.join(_WORKDIR.value, name.split()[0].lower(),
                             f"seed{seed}")
      print(f"--- {name}, seed {seed} -> {workdir}", flush=True)
      r = training.fit(build(), data, cfg, workdir)
      results[name].append((r.final_target_accuracy, len(r.history)))
    round_sec = time.time() - round_start
  _report(results, config, time.time() - start)


def _report(results, config, seconds):
  n_seeds = len(next(iter(results.values())))
  print(f"\nFashion-MNIST test accuracy of the {TARGET} target "
        f"({config.limit} train images, {config.epochs} epochs, "
        f"{n_seeds} seed(s); {seconds:.0f} s wall-clock):\n")
  print("| graph | nodes | test acc. (%) |\n|---|---|---|")
  for name, runs in results.items():
    acc = 100 * np.asarray([a for a, _ in runs])
    spread = f" ± {acc.std():.2f}" if len(acc) > 1 else " (1 seed, no std)"
    nodes = ", ".join(n.model for n in GRAPHS[name]().nodes)
    print(f"| {name} | {nodes} | {acc.mean():.2f}{spread} |")
  out = os.path.abspath(_WORKDIR.value)
  print(f"\npictures (graph.png, gates.png, curves.png), metrics.jsonl, "
        f"TensorBoard (tb/) and checkpoints (checkpoints/, variables/) are in "
        f"{out}/<graph>/seed<k>/", flush=True)


if __name__ == "__main__":
  app.run(main)
