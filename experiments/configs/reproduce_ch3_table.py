"""Issue 23 part 3: the 5-seed test rows in the regime of the ch.3 table.

The regime is the table's (experiments/configs/ch3_table.py: fashion_pairs14,
resnet8 target, wrn10_2 aux, 40 epochs, cosine lr from 0.05), chosen on the
validation split before any test number. As every reproduction does, a row's
final runs train on the whole training split (all 1,200 pairs; the table
held 400 of them out) and read the 10,000 test pairs once, after the last
epoch; each row is 5 seeds, tested by Welch against Vanilla and DML.

Rows: the classic ones (Vanilla, DML of two targets, DML target + aux, KD
with T = 2 from the aux trained alone), the thesis's own 2-node graph (DML
with Correct on target -> aux, thesis Fig. 3.7a), and the table's three best
graphs by validation (``reproduce.table_point``: the mean over each graph's
seeds among the graphs with the most seeds — the reference graphs and the
top 24 get 3 seeds, ``experiments/ch3_table.py --top=24`` — runs that are
the same run as a better graph skipped). A table graph with a frozen aux
uses the row's one KD teacher (the table used one per seed).

  python experiments/reproduce.py \
      --config=experiments/configs/reproduce_ch3_table.py \
      --workdir=runs/reproduce_ch3_table
"""

import os

from ktg_jax.cli import common

HERE = os.path.dirname(os.path.abspath(__file__))


def _table_config():
  return common.config_beside(__file__, "ch3_table.py").get_config()


def get_config():
  c = _table_config()
  c.eval_every_epochs = 0  # the test split read once, after the last epoch
  c.table_file = os.path.join(os.path.dirname(os.path.dirname(HERE)),
                              "benchmarks", "results", "ch3_table.jsonl")
  c.rows = ("vanilla", "dml_aux", "kd", "dml", "thesis_2node",
            "table_best1", "table_best2", "table_best3")
  return c
