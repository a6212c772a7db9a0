"""The reproduction of Table 3.2: paired data source, Welch p-values, and the
plumbing of experiments/reproduce.py on tiny data (+ the ch.3 CIFAR-100
config end to end on TFDS mock data)."""

import importlib.util
import json
import math
import os
import sys

import numpy as np
import pytest

from ktg_jax import data, stats
from ktg_jax import reproduce as rp
from ktg_jax.data import sources

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(path, name):
  if name in sys.modules:   # a script defines absl flags: import it once
    return sys.modules[name]
  spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, path))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  sys.modules[name] = module
  return module


# --- the paired source ------------------------------------------------------

def test_pairs_label_formula_shapes_and_splits():
  raw = sources.digits()
  pr = sources.SOURCES["digits_pairs"](limit=50)
  assert pr.num_classes == 100
  assert pr.train_images.shape == (50, 8, 16, 1)
  assert pr.test_images.shape == (50, 8, 16, 1)
  for images, labels, base_x, base_y in [
      (pr.train_images, pr.train_labels, raw.train_images, raw.train_labels),
      (pr.test_images, pr.test_labels, raw.test_images, raw.test_labels)]:
    flat = base_x.reshape(len(base_x), -1)
    for x, y in zip(images, labels):
      halves = []
      for half in (x[:, :8], x[:, 8:]):  # each half is an image of its split
        hits = np.flatnonzero((flat == half.reshape(-1)).all(1))
        assert len(hits) >= 1
        halves.append(set(base_y[hits].tolist()))
      left, right = divmod(int(y), 10)   # label = 10 x left + right
      assert left in halves[0] and right in halves[1]
  again = sources.SOURCES["digits_pairs"](limit=50)
  np.testing.assert_array_equal(again.train_images, pr.train_images)
  other = sources.paired(limit=50, base="digits", seed=5)
  assert not np.array_equal(other.train_labels, pr.train_labels)


def test_pairs_pooling_is_a_2x2_mean():
  full = sources.paired(limit=4, base="digits")
  half = sources.paired(limit=4, base="digits", pool=2)
  ref = full.train_images.reshape(4, 4, 2, 8, 2, 1).mean((2, 4))
  np.testing.assert_allclose(half.train_images, ref, rtol=1e-6)
  with pytest.raises(ValueError, match="pool=0"):
    sources.paired(limit=4, base="digits", pool=0)


# --- Welch's t-test ---------------------------------------------------------

def _welch_numpy(a, b):
  """Welch's t, Welch-Satterthwaite nu, and the two-sided p by integrating
  the Student-t density numerically (numpy only)."""
  a, b = np.asarray(a, float), np.asarray(b, float)
  va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
  t = (a.mean() - b.mean()) / math.sqrt(va + vb)
  if t == 0:
    return 1.0
  nu = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
  logc = math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(
      nu * math.pi)
  u = np.linspace(0.0, 1.0, 200_001)[1:]   # x = |t| / u: tail on (0, 1]
  x = abs(t) / u
  dens = np.exp(logc - (nu + 1) / 2 * np.log1p(x ** 2 / nu)) * abs(t) / u ** 2
  tail = np.trapezoid(np.concatenate([[0.0], dens]), np.concatenate([[0.0], u]))
  return 2 * tail


@pytest.mark.parametrize("a,b", [
    ([71.2, 71.9, 71.5, 71.8, 71.4], [72.3, 72.6, 72.9, 72.4, 72.5]),
    ([50.0, 52.0, 49.0], [51.0, 50.5, 51.5, 50.0]),
    ([0.1, 0.4, 0.2, 0.3, 0.9], [0.2, 0.5, 0.1, 0.6, 0.3])])
def test_welch_p_matches_a_numpy_reference(a, b):
  assert stats.welch_p(a, b) == pytest.approx(_welch_numpy(a, b), abs=1e-4)
  assert stats.welch_p(a, b) == pytest.approx(stats.welch_p(b, a))


def test_welch_p_degenerate_and_rows():
  assert math.isnan(stats.welch_p([0.5], [0.4, 0.6]))
  assert math.isnan(stats.welch_p([0.5, 0.5], [0.5, 0.5]))
  with pytest.raises(ValueError, match="allowed"):
    rp.check_rows(["vanilla", "nope"])


def test_summary_reads_the_table_a_run_wrote(tmp_path):
  results = {"vanilla": {"per_seed": [0.57, 0.58, 0.575]},
             "kd": {"per_seed": [0.62, 0.625, 0.61]}}
  path = tmp_path / "table.json"
  path.write_text(json.dumps(rp.table(results)))
  text = rp.summary(str(path), ["vanilla", "kd", "dml"])
  p = stats.welch_p(results["kd"]["per_seed"], results["vanilla"]["per_seed"])
  assert "(3 seeds a row" in text
  assert f"Vanilla: 57.50 ± 0.50 %\n" in text
  assert f"KD (T = 2, frozen aux teacher): 61.83 ± 0.76 % (Welch p vs " \
         f"Vanilla {p:.2g})" in text
  assert "DML (target x 2): not run" in text
  assert "no reproduction table" in rp.summary(str(tmp_path / "x"), ["kd"])


def test_committed_fidelity_table_is_consistent_with_its_seeds():
  """benchmarks/results/fidelity_table.json (FIDELITY.md, the demo) is what
  ``reproduce.table`` makes of its own per-seed numbers."""
  rows = json.loads(open(os.path.join(ROOT, "benchmarks", "results",
                                      "fidelity_table.json")).read())
  assert [r["name"] for r in rows][:2] == ["vanilla", "dml"]
  again = rp.table({r["name"]: {"per_seed": [x / 100 for x in r["per_seed"]]}
                    for r in rows})
  for got, want in zip(again, rows):
    assert want["n"] == 5
    for key in ("mean", "std", "p_vs_vanilla", "p_vs_dml"):
      if math.isnan(want[key]):
        assert math.isnan(got[key])
      else:
        assert got[key] == pytest.approx(want[key], rel=1e-6)


# --- the script's plumbing --------------------------------------------------

SEEDS = (0, 1)  # experiments/reproduce.py --seeds=0,1


def _tiny(config):
  config.update(limit=96, epochs=1, batch_size=32, target="small_cnn",
                aux="small_cnn", verbose=False, pictures=False)
  config.search.update(searcher="random", num_trials=1, epochs=1)
  return config


def _check_table(table, rows, runs):
  assert [r["name"] for r in table] == list(rows)
  by = {r["name"]: r for r in table}
  for r in table:
    assert r["n"] == 2 and len(r["per_seed"]) == 2
    acc = np.asarray(r["per_seed"])
    assert r["mean"] == pytest.approx(acc.mean())
    assert r["std"] == pytest.approx(acc.std(ddof=1))
    for base in rp.BASELINES:
      p = r[f"p_vs_{base}"]
      if r["name"] == base or base not in by:
        assert math.isnan(p)
        continue
      ref = by[base]["per_seed"]
      if np.var(acc) == 0 and np.var(ref) == 0:
        assert math.isnan(p)
      else:
        assert 0.0 <= p <= 1.0
        assert p == pytest.approx(_welch_numpy(acc, ref), abs=1e-4)
  for name in rows:   # one JSON per finished row: what a resumed run reads
    assert os.path.isfile(rp.row_path(runs, name))


def _fake_training(monkeypatch):
  """``fit`` / ``fit_seeds`` replaced by a deterministic accuracy per
  (graph shape, seed): the every-row test checks the plumbing (rows, teacher,
  searches, table, p-values, resume), not training (the mock test below
  trains for real)."""
  from ktg_jax.run import seeds as seeds_lib
  from ktg_jax.run import training

  def acc(spec, seed):
    return float(np.random.default_rng(
        [len(spec.nodes), len(spec.edges), seed]).uniform(0.3, 0.7))

  class Fit:   # what the teacher and the random search read
    def __init__(self, spec, cfg):
      self.final_target_accuracy = acc(spec, cfg.seed)

  def fit_seeds(spec, data_, config, seeds, workdir=None, strategy=None):
    del data_, config, workdir, strategy
    return seeds_lib.summarize(seeds, [[{"target_accuracy": acc(spec, s)}]
                                       for s in seeds], "fake")

  monkeypatch.setattr(training, "fit", lambda spec, d, cfg, w=None, **k:
                      Fit(spec, cfg))
  monkeypatch.setattr(seeds_lib, "fit_seeds", fit_seeds)


def test_reproduce_every_row_on_tiny_pairs_and_resume(tmp_path, capsys,
                                                      monkeypatch):
  _fake_training(monkeypatch)
  from ktg_jax.cli import reproduce as script  # pylint: disable=import-outside-toplevel
  cfg = _tiny(_load("experiments/configs/reproduce_fashion_pairs.py",
                    "cfg_pairs").get_config())
  cfg.dataset = "digits_pairs"
  runs = str(tmp_path / "runs")
  table_rows = {"thesis_2node", "table_best1", "table_best2", "table_best3"}
  assert sorted(cfg.rows) == sorted(set(rp.ROWS) - table_rows)
  table = script.reproduce(cfg, runs, seeds=SEEDS)
  _check_table(table, cfg.rows, runs)
  text = rp.markdown(table, {("Vanilla", "R32"): (70.71, 0.39)})
  assert text.count("\n") == len(cfg.rows) + 1 and "70.71 ± 0.39" in text
  for space in ("ch3_4gates_2", "ch3_4gates_3", "ch3_sine_3", "gamma_2"):
    assert os.path.isfile(os.path.join(runs, "search", space, "best_graph.png"))
  sine = json.loads(open(rp.row_path(runs, "ktg3_sine")).read())["graph"]
  assert all("sine" in json.dumps(e).lower() for e in sine["edges"])
  capsys.readouterr()
  again = script.reproduce(cfg, runs, seeds=SEEDS)   # resumed: nothing retrained
  assert "training" not in capsys.readouterr().out
  assert json.dumps(again) == json.dumps(table)


def test_table_rows_retrain_the_tables_best_graphs(tmp_path, monkeypatch):
  """reproduce_ch3_table.py: its rows are the classic ones, the thesis's
  2-node graph and the table's 3 best by validation (graphs with the most
  seeds, same runs skipped), each trained for 5 seeds and tested."""
  _fake_training(monkeypatch)
  from ktg_jax.cli import reproduce as script  # pylint: disable=import-outside-toplevel
  cfg = _tiny(_load("experiments/configs/reproduce_ch3_table.py",
                    "cfg_ch3_table").get_config())
  assert (cfg.epochs, cfg.limit, cfg.eval_every_epochs) == (1, 96, 0)
  cfg.dataset = "digits_pairs"
  points = [dict(zip(rp.TABLE_EDGES, g)) for g in [
      ("through", "through", "linear", "cutoff"),    # 0: best, 2 seeds
      ("correct", "through", "linear", "cutoff"),    # 1: the same run as 0
      ("through", "through", "cutoff", "linear"),    # 2: 2nd
      ("linear", "linear", "through", "through"),    # 3: 1 seed, never
      ("through", "cutoff", "through", "cutoff"),    # 4: 3rd (frozen aux)
      ("through", "through", "through", "through")]]  # 5: 4th
  scores = {0: (.6, .6), 1: (.6, .6), 2: (.5, .58), 3: (.99,), 4: (.5, .5),
            5: (.4, .4)}
  table = tmp_path / "table.jsonl"
  with open(table, "w") as f:
    for i, ss in scores.items():
      for seed, s in enumerate(ss):
        curve = [[s, 0 if i == 1 else i]]  # 1 trains what 0 trains
        f.write(json.dumps({"index": i, "seed": seed, "point": points[i],
                            "score": s, "curve": curve}) + "\n")
  cfg.table_file = str(table)
  runs = str(tmp_path / "runs")
  got = script.reproduce(cfg, runs, seeds=SEEDS)
  _check_table(got, cfg.rows, runs)

  def edge_gates(name):
    graph = json.loads(open(rp.row_path(runs, name)).read())["graph"]
    edges = {(e["source"], e["target"]): e["gate"]["name"]
             for e in graph["edges"]}
    return tuple(edges.get(k, "cutoff") for k in
                 [("label", 0), ("label", 1), (1, 0), (0, 1)]), graph
  for name, i in [("table_best1", 0), ("table_best2", 2),
                  ("table_best3", 4)]:
    assert edge_gates(name)[0] == tuple(points[i][e] for e in rp.TABLE_EDGES)
  frozen = edge_gates("table_best3")[1]["nodes"][1]
  assert frozen["checkpoint"].endswith(os.path.join("teacher", "variables",
                                                    "node0"))
  assert edge_gates("thesis_2node")[0] == ("through", "through", "through",
                                           "correct")


def test_ch3_cifar100_config_end_to_end_on_tfds_mock(tmp_path):
  tfds = pytest.importorskip("tensorflow_datasets")
  from ktg_jax.cli import reproduce as script  # pylint: disable=import-outside-toplevel
  cfg = _load("experiments/configs/reproduce_ch3_cifar100.py",
              "cfg_ch3").get_config()
  assert (cfg.dataset, cfg.target, cfg.aux, cfg.epochs) == (
      "cifar100", "resnet32", "wrn28_2", 200)
  cfg = _tiny(cfg)   # a tiny budget: small models, 1 epoch, 2 seeds
  rows = ("vanilla", "kd")
  with tfds.testing.mock_data(num_examples=40):
    table = script.reproduce(cfg, str(tmp_path), rows, seeds=SEEDS)
  _check_table(table, rows, str(tmp_path))
