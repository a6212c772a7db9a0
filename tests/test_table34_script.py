"""experiments/table34.py without training: the priority order of --only,
frozen nodes of an extended pattern, and the merge of a cell's seed sets."""

import pytest

from ktg_jax.cli import common

from experiment_scripts import import_script

table34 = import_script("table34")
CONFIG = common.load_module(common.config_path("table34.py")).get_config()
KD = ("through", "cutoff", "through", "cutoff")


def test_every_cell_once_and_only_as_a_priority_list():
  every = table34.cells(CONFIG)
  assert len(every) == 2 * 4 * 4 and len(set(every)) == len(every)
  got = table34.cells(CONFIG, ["converged/5/dml", "short/2", "converged/5/dml"])
  assert [(c[0], c[2], c[3]) for c in got] == [
      ("converged", 5, "dml"), ("short", 2, "dml"), ("short", 2, "all_correct"),
      ("short", 2, "all_linear"), ("short", 2, "best_extended")]
  assert got[0][1] == 40 and got[1][1] == 15


def test_frozen_nodes():
  assert table34.frozen_nodes(KD, 4) == [1, 2, 3]
  assert table34.frozen_nodes(("through",) * 4, 4) == []


def _part(seeds, val, test):
  return {"regime": "short", "nodes": 2, "graph": "dml", "seeds": seeds,
          "val": val, "test": test, "curve": [[[15, v]] for v in val],
          "train_acc": [1.0] * len(seeds), "val_all_nodes": [[v, v] for v in val],
          "wall_s": 10.0, "cpu_s": 4.0, "load_start": "1", "load_end": "2",
          "finished": "t", "val_mean": 0.0, "val_std": 0.0}


def test_merge_sorts_by_seed_and_recomputes_the_summary():
  m = table34.merge([_part([2], [0.30], [0.35]), _part([0, 1], [0.40, 0.20],
                                                      [0.45, 0.25])])
  assert m["seeds"] == [0, 1, 2]
  assert m["val"] == [0.40, 0.20, 0.30] and m["test"] == [0.45, 0.25, 0.35]
  assert m["val_mean"] == pytest.approx(0.30)
  assert m["val_std"] == pytest.approx(0.10)  # ddof 1: sqrt(0.02 / 2)
  assert m["wall_s"] == 20.0 and len(m["runs"]) == 2
  with pytest.raises(ValueError, match="overlap"):
    table34.merge([_part([0], [0.1], [0.1]), _part([0], [0.2], [0.2])])
