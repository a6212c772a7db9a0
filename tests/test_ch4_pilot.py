"""experiments/ch4_pilot.py and experiments/configs/ch4_regime.py without
training: the regime's split sizes, the rows' graphs, the resume keys, the
JSON record and the seed summary (checked against numpy)."""

import json
import os
from typing import NamedTuple

import numpy as np
import pytest

from ktg_jax.cli import common

from experiment_scripts import import_script

ch4_pilot = import_script("ch4_pilot")


CONFIG = common.load_module(common.config_path("ch4_regime.py")).get_config()


def test_regime_keeps_800_training_pairs_and_holds_out_10000():
  n_val = int(round(CONFIG.val_fraction * CONFIG.limit))
  assert (CONFIG.limit - n_val, n_val) == (800, 10_000)
  assert CONFIG.dataset == "fashion_pairs14" and CONFIG.epochs == 40
  assert CONFIG.eval_split == "val" and CONFIG.models == "resnet8"
  assert CONFIG.save_variables  # the compression's teachers


def test_independent_and_dml_rows_are_ensembles_of_the_config_members():
  ind, agg = ch4_pilot.ROWS["independent"](CONFIG, "/nowhere", 0)
  dml, _ = ch4_pilot.ROWS["dml"](CONFIG, "/nowhere", 0)
  m = CONFIG.members
  assert agg is None and ind.target == m and dml.target == m
  assert ind.nodes[m].kind == "ensemble" and ind.nodes[m].members == tuple(range(m))
  assert [n.model for n in ind.nodes[:m]] == ["resnet8"] * m
  member_edges = lambda s: sorted(k for k in s.edges if k[0] != "label")
  assert member_edges(ind) == []
  assert member_edges(dml) == [(s, t) for s in range(m) for t in range(m) if s != t]


def test_compression_rows_read_the_same_seeds_independent_members(tmp_path):
  with pytest.raises(FileNotFoundError, match="independent"):
    ch4_pilot.ROWS["compress_each"](CONFIG, str(tmp_path), 1)
  run = ch4_pilot.teacher_dir(str(tmp_path), CONFIG.members, 1)
  assert os.path.basename(run) == f"independent_m{CONFIG.members}_seed1"
  for i in range(CONFIG.members):
    os.makedirs(os.path.join(run, "variables", f"node{i}"))
  ens, agg = ch4_pilot.ROWS["compress_ensemble"](CONFIG, str(tmp_path), 1)
  each, agg_each = ch4_pilot.ROWS["compress_each_pcgrad"](CONFIG, str(tmp_path), 1)
  assert agg is None and agg_each == "pcgrad"
  assert ens.target == 0 and each.target == 0
  assert [n.kind for n in ens.nodes][-1] == "ensemble"
  assert each.nodes[1].checkpoint == os.path.join(run, "variables", "node0")
  assert sorted(k for k in each.edges if k[0] != "label") == [
      (i, 0) for i in range(1, CONFIG.members + 1)]


def test_done_keys_resume(tmp_path):
  path = str(tmp_path / "pilot.jsonl")
  assert ch4_pilot.done_keys(path) == set()
  with open(path, "w") as f:
    f.write(json.dumps({"key": "dml_m2_seed0"}) + "\n\n")
    f.write(json.dumps({"key": "dml_m2_seed1"}) + "\n")
  assert ch4_pilot.done_keys(path) == {"dml_m2_seed0", "dml_m2_seed1"}


class _Result(NamedTuple):
  history: list
  final_target_accuracy: float


def _history():
  nan = float("nan")
  h = [{"epoch": e, "accuracy": [nan, nan, nan], "train_accuracy": [0.5, 0.4, 0.0],
        "seconds": 2.0} for e in (1, 2)]
  h[-1]["accuracy"] = [0.4, 0.5, 0.6]
  h[-1]["ensemble"] = {"member_accuracy": [0.4, 0.5],
                       "mean_member_accuracy": 0.45, "ensemble_accuracy": 0.6,
                       "gain": 0.15, "mean_diversity": 0.9}
  return h


def test_record_keeps_only_evaluated_epochs_and_the_ensemble_report():
  rec = ch4_pilot.record("independent", 3, CONFIG, _Result(_history(), 0.6),
                         10.0, 9.0, (1.0, 2.0, 3.0), (2.0, 2.0, 2.0))
  assert rec["key"] == f"independent_m{CONFIG.members}_seed3"
  assert (rec["train_pairs"], rec["val_pairs"]) == (800, 10_000)
  assert rec["val_curve"] == [[2, [0.4, 0.5, 0.6]]]   # epoch 1 not evaluated
  assert rec["train_s"] == 4.0 and rec["epochs"] == 2 and rec["split"] == "val"
  assert rec["ensemble"]["gain"] == 0.15
  json.dumps(rec)  # a JSON line


def test_summary_and_table_against_numpy():
  recs = []
  for seed, (score, mean_m, div) in enumerate([(0.47, 0.42, 0.9),
                                               (0.48, 0.44, 1.0),
                                               (0.50, 0.43, 0.8)]):
    recs.append({"row": "independent", "members": 2, "seed": seed,
                 "score": score, "wall_s": 60.0 + seed, "cpu_s": 50.0,
                 "loadavg_start": [3.0, 0, 0],
                 "ensemble": {"mean_member_accuracy": mean_m,
                              "gain": score - mean_m, "mean_diversity": div}})
  recs.append({"row": "compress_each", "members": 2, "seed": 0, "score": 0.45,
               "wall_s": 30.0, "cpu_s": 20.0, "loadavg_start": [2.0, 0, 0]})
  g = ch4_pilot.summarize(recs)
  scores = np.array([47.0, 48.0, 50.0])
  assert g[("independent", 2)]["score"] == pytest.approx(scores)
  assert g[("independent", 2)]["gain"] == pytest.approx(scores - [42, 44, 43])
  assert g[("compress_each", 2)]["gain"] == []
  text = ch4_pilot.table(recs)
  assert f"{scores.mean():.2f} ± {scores.std(ddof=1):.2f}" in text
  assert "| compress_each | 2 | 0 | 45.00 ± — (45.00) | — |" in text
  assert "| 50-50 | 60-62 | 3.0-3.0 |" in text


def test_variance_parts_against_the_covariance_double_sum():
  rng = np.random.default_rng(0)
  # 5 seeds x 40 examples; seed 3 better everywhere (a shared part)
  p = np.clip(rng.uniform(0.1, 0.9, 40)[None] + np.array(
      [0, 0, 0, 0.3, 0])[:, None], 0, 1)
  c = rng.uniform(size=(5, 40)) < p
  v, shared = ch4_pilot.variance_parts(c)
  cov = np.cov(c.astype(float), rowvar=False, ddof=1)     # [n, n] over seeds
  n = c.shape[1]
  assert v == pytest.approx(np.trace(cov) / n)
  assert shared == pytest.approx((cov.sum() - np.trace(cov)) / n**2)
  assert v / n + shared == pytest.approx(np.var(c.mean(1), ddof=1))
  assert ch4_pilot.std_at(v, shared, n) == pytest.approx(
      np.std(c.mean(1), ddof=1))
  assert ch4_pilot.std_at(0.25, -1.0, 100) == pytest.approx(0.05)


def test_predictions_are_the_argmax_of_saved_members_and_their_mean(tmp_path):
  import jax
  from ktg_jax import checkpoint, data as data_lib, models
  images = np.random.default_rng(1).normal(size=(7, 8, 8, 1)).astype(np.float32)
  split = data_lib.Split(images, np.zeros(7, np.int32))
  logits = []
  for i in range(2):
    module = models.create("small_cnn", 5)
    variables = models.init(module, jax.random.PRNGKey(i), images[:1])
    checkpoint.save_variables(str(tmp_path / "variables" / f"node{i}"), variables)
    logits.append(np.asarray(module.apply(variables, images, train=False)["logits"]))
  pred = ch4_pilot.predictions(str(tmp_path), 2, "small_cnn", split, 5,
                               batch_size=4)
  assert pred.shape == (3, 7) and pred.dtype == np.int16
  np.testing.assert_array_equal(pred[:2], np.argmax(logits, -1))
  np.testing.assert_array_equal(pred[2], np.argmax(np.mean(logits, 0), -1))


def test_test_split_runs_read_the_test_split_once_under_their_own_keys():
  cfg = ch4_pilot.split_config(CONFIG, "test")
  assert cfg.eval_split == "test" and cfg.eval_every_epochs == 0
  assert CONFIG.eval_split == "val"   # the regime's config untouched
  from ktg_jax.run import scoring
  assert [e for e in range(1, cfg.epochs + 1)
          if scoring.evaluates(cfg, e)] == [cfg.epochs]
  assert ch4_pilot.run_name("dml", 2, 4, "test") == "test_dml_m2_seed4"
  assert ch4_pilot.run_name("dml", 2, 4) == "dml_m2_seed4"  # the pilot's
  assert ch4_pilot.RESULTS_FILE["test"] != ch4_pilot.RESULTS_FILE["val"]


def test_test_record_keeps_the_one_evaluation_and_the_ensemble_report():
  h = _history()
  h[-1]["ensemble"]["diversity_matrix"] = [[0.0, 0.9], [0.9, 0.0]]
  rec = ch4_pilot.record("searched", 1, CONFIG, _Result(h, 0.6), 10.0, 9.0,
                         (1.0, 2.0, 3.0), (2.0, 2.0, 2.0), split="test",
                         members=2, eval_pairs=10_000)
  assert rec["key"] == "test_searched_m2_seed1" and rec["split"] == "test"
  assert rec["test_pairs"] == 10_000 and "val_pairs" not in rec
  assert rec["test_curve"] == [[2, [0.4, 0.5, 0.6]]]
  assert rec["ensemble"]["gain"] == h[-1]["ensemble"]["gain"]
  assert "diversity_matrix" not in rec["ensemble"]
  json.dumps(rec)


def test_searched_row_loads_a_graph_json_with_sized_attention_kinds(tmp_path):
  from ktg_jax.search import presets
  space = presets.get("ch4", 2, model="resnet8", crop_sizes=(2, 3, 4))
  point = next(p for p in (space.sample(np.random.default_rng(s))
                           for s in range(50))
               if space.feasible(p) and any(
                   "att" in v for k, v in p.items() if k.startswith("loss_")))
  spec = space.to_spec(point)
  path = tmp_path / "best_graph.json"
  spec.save(str(path))
  loaded = ch4_pilot.load_graph(str(path))
  assert loaded.to_json() == spec.to_json()
  assert ch4_pilot.members_of(loaded) == 2
  with pytest.raises(ValueError, match="--graph"):
    ch4_pilot.load_graph(None)


def test_test_table_compares_each_row_with_independent_and_dml():
  from scipy import stats as sps
  rng = np.random.default_rng(0)
  scores = {"independent": rng.uniform(0.45, 0.48, 5),
            "dml": rng.uniform(0.46, 0.49, 5),
            "searched": rng.uniform(0.44, 0.50, 5)}
  recs = [{"row": row, "members": 2, "seed": s, "split": "test",
           "score": float(v), "wall_s": 60.0, "cpu_s": 50.0,
           "loadavg_start": [3.0, 0, 0],
           "ensemble": {"mean_member_accuracy": float(v) - 0.04,
                        "gain": 0.04, "mean_diversity": 0.5}}
          for row, vs in scores.items() for s, v in enumerate(vs)]
  recs.append({**recs[0], "split": "val", "row": "pilot_only"})
  text = ch4_pilot.table(recs, "test")
  lines = text.splitlines()
  assert [l.split(" | ")[0] for l in lines[2:]] == [
      "| independent", "| dml", "| searched"]
  assert "pilot_only" not in text
  s, i, d = (100 * scores[k] for k in ("searched", "independent", "dml"))
  row = lines[4].split(" | ")
  p_i = sps.ttest_ind(s, i, equal_var=False).pvalue
  p_d = sps.ttest_ind(s, d, equal_var=False).pvalue
  from ktg_jax import stats
  assert row[7] == f"{s.mean() - i.mean():+.2f}, p = {stats.format_p(p_i)}"
  assert row[8] == f"{s.mean() - d.mean():+.2f}, p = {stats.format_p(p_d)}"
  assert f"{s.mean():.2f} ± {s.std(ddof=1):.2f}" in lines[4]
  assert lines[2].split(" | ")[7] == "—"   # Independent against itself


def test_table_reads_the_results_of_several_folders(tmp_path):
  for k, seeds in enumerate(((0, 1), (5,))):
    os.makedirs(tmp_path / f"r{k}")
    with open(tmp_path / f"r{k}" / ch4_pilot.RESULTS_FILE["test"], "w") as f:
      for s in seeds:
        f.write(json.dumps({"key": f"test_dml_m2_seed{s}", "seed": s}) + "\n")
  recs = ch4_pilot.read_all([str(tmp_path / "r0"), str(tmp_path / "r1")],
                            "test")
  assert [r["seed"] for r in recs] == [0, 1, 5]
