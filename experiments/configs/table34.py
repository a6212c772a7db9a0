"""Thesis Table 3.4 at CPU scale (issue 23 item 6; docs/table34.md).

Published (thesis §3.3.5, Table 3.4; docs/papers.md §6 lists the ch.3
numbers): graphs searched on CIFAR-100 with 2-6 nodes, retrained on eight
small data sets; DML (every node ResNet32, all edges Through) loses accuracy
as nodes are added (e.g. Stanford Cars 43.10 -> 8.32 from 2 to 5 nodes)
while the searched graphs hold (59.63 -> 60.08).

Here: N = 2..5 nodes x four gate patterns, each a 2-node point of the
tabulated ch.3 space extended to N nodes (``ktg_jax.search.extend``):

* ``dml``: every edge Through;
* ``all_correct`` / ``all_linear``: label edges Through, every node edge
  Correct / Linear;
* ``best_extended``: the best graph of the 2-node table
  (benchmarks/results/ch3_table.jsonl) by validation among the rows
  finished when this grid started (``grid.best``).

Data: ``fashion_pairs14`` with 1,500 pairs, a third held out: 1,000
training pairs (10 a class on average over the 100 classes), 500
validation pairs; the 10,000 test pairs read once per finished run.
Models: target resnet8, every auxiliary wrn10_2 (the table's pair).
Two regimes (``grid.regimes``): the converged one of the table (40 epochs,
docs/ch3_table.md) and the short one (15 epochs, the reduced Table 3.2's).
Everything else is the table's protocol (SGD + Nesterov, cosine from 0.05,
wd 5e-4, batch 64, no augmentation).
"""

from ktg_jax.cli import common


def _table():
  return common.config_beside(__file__, "ch3_table.py").get_config()


THROUGH = ("through",) * 4


def get_config():
  c = _table()
  del c.table
  c.limit, c.val_fraction = 1500, 1 / 3
  # Validation every 5 epochs (and after the last): a curve at a fifth of
  # the cost of evaluating the N nodes after every epoch.
  c.eval_every_epochs = 5
  c.checkpoint_every = 5
  c.seeds = (0, 1, 2)
  # 2-node points: gates on (label->0, label->1, 1->0, 0->1).
  c.grid = dict(
      nodes=(2, 3, 4, 5),
      regimes=(("short", 15), ("converged", 40)),
      graphs=(
          ("dml", THROUGH),
          ("all_correct", ("through", "through", "correct", "correct")),
          ("all_linear", ("through", "through", "linear", "linear")),
          # The best row of benchmarks/results/ch3_table.jsonl by final
          # validation accuracy among the 34 rows (seed 0) finished at
          # 2026-12-03 18:08 UTC: index 61 = KD (node 1 all-Cutoff, the
          # frozen pre-trained wrn10_2; 1->0 Through), 49.25 %.
          ("best_extended", ("through", "cutoff", "through", "cutoff")),
      ),
      best=dict(index=61, score=0.4925, rows=34, seed=0,
                snapshot="2026-12-03 18:08 UTC"),
      # A frozen aux node j (1..N-1) loads the aux model trained alone on the
      # labels in the same regime with seed teacher_seeds[j - 1] (the same
      # teachers for every target seed).
      teacher_seeds=(101, 102, 103, 104),
  )
  return c
