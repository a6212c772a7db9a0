"""The tabulated 2-node ch.3 benchmark (issue 23): a converged regime.

Everything here was chosen on the *validation* split (test split sealed);
the pilot numbers, commands, dates and machine load are in docs/ch3_table.md.

* Data ``fashion_pairs14`` (the 100-class Fashion-MNIST pairs stand-in of
  experiments/configs/reproduce_fashion_pairs.py, 14 x 28), but 1,200 pairs
  with a third held out: 800 training / 400 validation pairs. Fewer pairs
  converge in fewer steps (a DML epoch is 12-13 steps instead of 25), and
  400 validation pairs keep the score's resolution at 0.25 %: the 2,000-pair
  regime (1,600 / 400) left the target at ~0.84 training accuracy after 15
  epochs.
* 40 epochs, cosine lr from 0.05: the pilot's target reached a last-epoch
  training accuracy >= 0.98 (criterion (a) of the issue), and DML of two
  nodes beat Vanilla on validation beyond seed noise (criterion (b)).
* Target resnet8, aux wrn10_2 (the ch.3 pair scaled down, as in the
  reproduction): DML (target + aux) is the DML of the table's space.
* Otherwise the reproduction's protocol: SGD + Nesterov, wd 5e-4, batch 64,
  no augmentation; evaluation on the validation split after every epoch
  (per-epoch curves of both nodes for replayed multi-fidelity searchers).
* ``table``: seeds in order (all 240 graphs at seed 0 first: 1 seed per
  graph fits the ~12 CPU-hour budget; run ``--seeds=1`` afterwards for the
  second), the reference graphs trained first, 2 single-threaded shards
  (XLA:CPU's convolutions at this size barely use a second thread; measured
  in docs/ch3_table.md), 1 graph a pack (one ``fit`` a graph: exact
  wall_s per record and the finest resume).
"""

import importlib.util
import os


def _base():
  """reproduce_fashion_pairs.get_config(), loaded beside this file (a config
  file is loaded by path, not as a package module)."""
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "reproduce_fashion_pairs.py")
  spec = importlib.util.spec_from_file_location("reproduce_fashion_pairs",
                                                path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def get_config():
  c = _base()
  c.limit, c.val_fraction = 1200, 1 / 3
  c.epochs = 40
  c.eval_every_epochs = 1
  c.keep_checkpoints = 1
  # (name, gates on label->0, label->1, 1->0, 0->1), trained first in order.
  # Node 1 all-Cutoff (label->1 and 0->1) = the frozen pre-trained aux.
  c.table = dict(
      seeds=(0,), shards=2, pack_size=1,
      gates=("through", "cutoff", "linear", "correct"),  # ch.3's four
      first=(
          ("vanilla_like", ("through", "cutoff", "cutoff", "cutoff")),
          ("independent", ("through", "through", "cutoff", "cutoff")),
          ("dml", ("through", "through", "through", "through")),
          ("kd", ("through", "cutoff", "through", "cutoff")),
          # thesis Fig. 3.7a: Correct on ResNet32 -> WRN28-2, else Through
          ("thesis_2node", ("through", "through", "through", "correct")),
      ))
  return c
