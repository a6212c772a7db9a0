"""Searchers replayed on hand-made toy tables where the answer is known."""

import itertools
import json
import math
import re
import types

import numpy as np
import pytest

from ktg_jax.search import replay as rp


def toy_records(finals, epochs=3, seeds=(0,), noise=None):
  """Graph i: ``point {"x": .., "y": ..}``, curve rising linearly to
  ``finals[i]`` (+ ``noise[i][s]`` for seed s), node 1 a dummy column."""
  xs = ("a", "b", "c", "d", "e")
  recs = []
  for i, f in enumerate(finals):
    for s in seeds:
      final = f + (0.0 if noise is None else noise[i][s])
      curve = [[final * (e + 1) / epochs, 0.5] for e in range(epochs)]
      recs.append({"index": i, "seed": s,
                   "point": {"x": xs[i % 5], "y": str(i // 5)},
                   "score": final, "curve": curve, "epochs": epochs})
  return recs


class Fixed:
  """A proposer that proposes the table's graphs in a given order."""

  def __init__(self, table, order):
    self.table, self.order = table, list(order)

  def ask(self):
    return rp.point(self.table, self.order.pop(0)) if self.order else None

  def tell(self, p, score):
    pass


# --- the table ---------------------------------------------------------------

def test_table_means_over_seeds_and_curves(tmp_path):
  recs = toy_records([0.4, 0.8], seeds=(0, 1), noise=[[0, .1], [-.2, 0]])
  path = tmp_path / "t.jsonl"
  path.write_text("".join(json.dumps(r) + "\n" for r in recs) + '{"ind')
  t = rp.load(str(path))  # the half-written last line is skipped
  np.testing.assert_allclose(t.mean, [0.45, 0.7])
  assert t.params == {"x": ("a", "b"), "y": ("0",)}
  assert t.epochs == 3 and t.curves[0].shape == (2, 3)
  np.testing.assert_allclose(t.curves[1][0], [0.2, 0.4, 0.6])
  assert t.best == pytest.approx(0.7)
  assert t.rows[("b", "0")] == 1


def test_table_errors_name_the_field():
  recs = toy_records([0.4, 0.8])
  bad = dict(recs[0], score=0.9)
  with pytest.raises(rp.TableError, match="score=0.9"):
    rp.from_records([bad, recs[1]])
  with pytest.raises(rp.TableError, match=r"point\['x'\]='b'"):
    rp.from_records(recs, params={"x": ("a",), "y": ("0",)})
  with pytest.raises(rp.TableError, match="curve lengths"):
    rp.from_records([recs[0], toy_records([0, 0.8], epochs=4)[1]])


def test_top_fraction():
  t = rp.from_records(toy_records(np.linspace(0.1, 0.9, 20)))
  assert rp.top(t, 0.05).tolist() == [19]
  assert rp.top(t, 0.1).tolist() == [18, 19]


# --- ASHA ---------------------------------------------------------------------

def test_asha_stops_as_specified_on_a_toy_curve_table():
  # Dyadic values: the medians below are exact. Rungs 1, 2, 4 (max_t 8).
  curves = [[.5] * 8,                  # first at every rung: goes on
            [.25] * 8,                 # rung 1: .25 < median(.5)
            [.75, .75] + [.25] * 6,    # rung 4: .25 < median(.5)
            [.375] * 8,                # rung 1: < median(.5, .25, .75)
            [.4375] + [.625] * 7]      # ties: rung 1 median .4375, rung 2 .625
  recs = [{"index": i, "seed": 0, "point": {"g": str(i)}, "score": c[-1],
           "curve": [[v] for v in c]} for i, c in enumerate(curves)]
  t = rp.from_records(recs)
  s = rp.Searcher(Fixed(t, range(5)), rp.Asha(t.epochs))
  tr = rp.replay(t, s, np.random.default_rng(0))
  assert tr.epochs.tolist() == [8, 1, 4, 1, 8]
  assert tr.observed.tolist() == [.5, .25, .25, .375, .625]
  # Grace period 2: rungs 2 and 4 only.
  s = rp.Searcher(Fixed(t, range(5)), rp.Asha(t.epochs, grace_period=2))
  assert rp.replay(t, s, np.random.default_rng(0)).epochs.tolist() == [
      8, 2, 4, 2, 8]
  assert rp.asha_rungs(32) == (1, 2, 4, 8, 16)
  assert rp.asha_rungs(16, 4) == (4, 8)


def test_asha_matches_ray_bracket():
  """Independent reference: Ray Tune's own ASHA bracket (``tune`` uses it)."""
  pytest.importorskip("ray")
  from ray.tune.schedulers.async_hyperband import _Bracket  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(3)
  for grace, max_t in ((1, 16), (2, 12), (4, 32)):
    bracket = _Bracket(grace, max_t, 2, 0)
    ours = rp.Asha(max_t, grace)
    for trial in range(40):
      curve = np.cumsum(rng.uniform(0, 0.1, max_t))
      ray_trial = types.SimpleNamespace(trial_id=str(trial))
      for e in range(1, max_t + 1):
        ray_go = bracket.on_result(ray_trial, e, float(curve[e - 1])) == (
            "CONTINUE")
        assert ours.keep(e, float(curve[e - 1])) == (ray_go or e == max_t), (
            grace, max_t, trial, e)
        if not ray_go:
          break


# --- regret ---------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(rp.SEARCHERS))
def test_a_searcher_that_sees_the_optimum_reports_zero_regret(name):
  if not rp.available(name):
    pytest.skip(f"{name}: its package is not installed")
  # Monotone curves in the same order at every epoch: ASHA never stops the
  # best graph, so whoever proposes it holds it from then on.
  t = rp.from_records(toy_records(np.linspace(0.2, 0.9, 15), epochs=4))
  best = int(np.argmax(t.mean))
  tr = rp.replay(t, rp.make(name, t, seed=1, budget=60),
                 np.random.default_rng(1), max_trials=60)
  assert best in tr.rows.tolist(), name
  first = tr.rows.tolist().index(best)
  assert np.all(tr.regret[first:] == 0.0)
  assert np.all(tr.regret[:first] > 0.0)
  assert np.all(np.diff(tr.regret) <= 0)  # noiseless: never worse


def test_exhaustive_random_search_has_zero_regret():
  t = rp.from_records(toy_records([0.3, 0.7, 0.5, 0.6]))
  tr = rp.replay(t, rp.make("random", t, seed=4), np.random.default_rng(4),
                 max_trials=10)
  assert sorted(tr.rows.tolist()) == [0, 1, 2, 3]  # without replacement
  assert tr.regret[-1] == 0.0


def test_random_regret_closed_form_equals_enumeration():
  mean = np.array([0.1, 0.5, 0.2, 0.9, 0.4, 0.45, 0.3])
  for n in range(1, len(mean) + 1):
    subsets = list(itertools.combinations(mean, n))
    ref = mean.max() - np.mean([max(s) for s in subsets])
    assert rp.random_regret(mean, n) == pytest.approx(ref, abs=1e-12)


def test_random_search_regret_matches_the_closed_form():
  finals = np.random.default_rng(0).uniform(0.1, 0.9, 20)
  t = rp.from_records(toy_records(finals, epochs=2))
  traces = rp.replays(t, "random", n=3000, seed=11, max_trials=8)
  regret = rp.by_trial(traces, 8)
  for n in (1, 2, 4, 8):
    mc = regret[:, n - 1]
    se = mc.std(ddof=1) / math.sqrt(len(mc))
    # 5 standard errors: a fixed seed, and a margin no seed would cross.
    assert abs(mc.mean() - rp.random_regret(finals, n)) < 5 * se + 1e-9, n


def test_incumbent_is_judged_by_the_observed_seed():
  # Graph 1 is better on average, but its seed 1 looks worse than graph 0.
  recs = toy_records([0.5, 0.6], seeds=(0, 1), noise=[[0, 0], [.3, -.15]])
  t = rp.from_records(recs)  # means 0.5 and 0.675
  outcomes = set()
  for seed in range(20):
    tr = rp.replay(t, rp.Searcher(Fixed(t, [0, 1]), rp.Never()),
                   np.random.default_rng(seed))
    outcomes.add((round(float(tr.observed[1]), 6), int(tr.incumbent[1]),
                   round(float(tr.regret[1]), 6)))
  # Seed 0 of graph 1 (0.9) wins: regret 0; seed 1 (0.45) loses to 0.5.
  assert outcomes == {(0.9, 1, 0.0), (0.45, 0, 0.175)}


def test_cost_in_trials_and_epochs_and_budget_to_top():
  t = rp.from_records(toy_records(np.linspace(0.1, 0.9, 20), epochs=4))
  tr = rp.Trace(rows=np.array([0, 18, 19]), epochs=np.array([4, 1, 4]),
                observed=np.zeros(3), incumbent=np.array([0, 18, 19]),
                regret=t.best - t.mean[[0, 18, 19]], infeasible=0)
  assert rp.to_reach(t, tr, 0.05) == rp.Budget(3.0, 9.0)
  assert rp.to_reach(t, tr, 0.10) == rp.Budget(2.0, 5.0)
  grid = [3, 4, 5, 8, 9, 20]
  np.testing.assert_allclose(rp.by_epoch([tr], grid)[0],
                             [np.nan] + list(tr.regret[[0, 1, 1, 2, 2]]))
  np.testing.assert_allclose(rp.by_trial([tr], 5)[0],
                             tr.regret[[0, 1, 2, 2, 2]])
  s = rp.budget_summary(t, [tr, tr._replace(incumbent=np.array([0, 0, 0]))])
  assert s["reached"] == 0.5 and s["trials"] == math.inf


def test_epoch_budget_stops_the_replay():
  t = rp.from_records(toy_records(np.linspace(0.1, 0.9, 20), epochs=4))
  tr = rp.replay(t, rp.make("random", t, seed=0), np.random.default_rng(0),
                 max_trials=100, max_epochs=10)
  assert tr.epochs.tolist() == [4, 4, 4]  # the third trial started at 8 < 10


# --- searchers ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ngopt", "discrete_1+1", "two_points_de"])
def test_nevergrad_searchers_are_deterministic_given_a_seed(name):
  t = rp.from_records(toy_records(np.linspace(0.1, 0.9, 15), seeds=(0, 1),
                                  noise=np.zeros((15, 2))))
  runs = [rp.replay(t, rp.make(name, t, seed=s, budget=25),
                    np.random.default_rng(s), max_trials=25).rows.tolist()
          for s in (7, 7, 8)]
  assert runs[0] == runs[1]
  assert runs[0] != runs[2]


def test_infeasible_proposals_cost_nothing():
  t = rp.from_records(toy_records(np.linspace(0.1, 0.9, 9)))
  assert ("e", "1") not in t.rows  # x in a..e, y in 0, 1: one graph missing

  class WithInfeasible(Fixed):
    """Proposes the missing graph once, after the first one."""
    sent = False

    def ask(self):
      if len(self.order) == 2 and not self.sent:
        self.sent = True
        return {"x": "e", "y": "1"}
      return super().ask()

  tr = rp.replay(t, rp.Searcher(WithInfeasible(t, [0, 8, 3]), rp.Never()),
                 np.random.default_rng(0))
  assert tr.rows.tolist() == [0, 8, 3] and tr.epochs.tolist() == [3, 3, 3]
  assert tr.infeasible == 1
  # Nevergrad's cheap constraint keeps it inside the table.
  tr = rp.replay(t, rp.make("ngopt", t, seed=0, budget=30),
                 np.random.default_rng(0), max_trials=30)
  assert len(tr.rows) == 30 and np.all(tr.rows < 9)


def test_optuna_searchers_deterministic_and_pruning():
  pytest.importorskip("optuna")
  t = rp.from_records(toy_records(np.linspace(0.1, 0.9, 15), epochs=8))
  runs = [rp.replay(t, rp.make("tpe+hyperband", t, seed=3),
                    np.random.default_rng(3), max_trials=30) for _ in range(2)]
  assert runs[0].rows.tolist() == runs[1].rows.tolist()
  assert runs[0].epochs.min() < 8  # the pruner stopped some trial


def test_edf_refined_searches_the_refined_space():
  # x = "a" is the best value of x; y = "0" of y: the refined space keeps
  # two values each, so after the first 16 graphs it proposes those first.
  finals = [0.2 + 0.1 * (i % 5 == 0) + 0.3 * (i // 5 == 0) + 0.01 * (i % 5)
            for i in range(25)]
  t = rp.from_records(toy_records(finals))
  prop = rp.RefinedProposer(t, np.random.default_rng(0), first=16, keep=2)
  tr = rp.replay(t, rp.Searcher(prop, rp.Never()), np.random.default_rng(0),
                 max_trials=25)
  kept = prop.kept
  assert "a" in kept["x"] and "0" in kept["y"]
  assert len(kept["x"]) == len(kept["y"]) == 2
  inside = [g for g in range(25) if t.keys[g][0] in kept["x"]
            and t.keys[g][1] in kept["y"]]
  after = tr.rows[16:].tolist()
  untried = [g for g in inside if g not in tr.rows[:16].tolist()]
  assert sorted(after[:len(untried)]) == sorted(untried)
  assert len(set(tr.rows.tolist())) == 25


def test_optuna_searchers_are_skipped_cleanly_without_optuna(monkeypatch):
  real = rp.importlib.util.find_spec
  monkeypatch.setattr(rp.importlib.util, "find_spec",
                      lambda n: None if n == "optuna" else real(n))
  assert not rp.available("tpe") and not rp.available("tpe+hyperband_g4")
  assert rp.available("random") and rp.available("ngopt")
  t = rp.from_records(toy_records([0.3, 0.7]))
  with pytest.raises(rp.TableError, match="searcher='tpe' needs a package"):
    rp.make("tpe", t)


def test_searcher_names():
  assert rp.spec_of("random+asha_g8").grace_period == 8
  assert rp.spec_of("random+asha").grace_period == 1
  for bad in ("random_g4", "nope", "random+asha_gx"):
    with pytest.raises(rp.TableError, match=re.escape(f"searcher={bad!r}")):
      rp.spec_of(bad)


def test_replay_script_on_the_synthetic_table(tmp_path):
  import os  # pylint: disable=import-outside-toplevel
  import subprocess  # pylint: disable=import-outside-toplevel
  import sys  # pylint: disable=import-outside-toplevel
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  cmd = [sys.executable, "experiments/replay.py", "--synthetic",
         f"--workdir={tmp_path}", "--replays=3", "--max_full_trials=6",
         "--searchers=random,random+asha_g4"]
  run = subprocess.run(cmd, cwd=root, capture_output=True, text=True,
                       timeout=120, env={**os.environ, "PYTHONPATH": root})
  assert run.returncode == 0, run.stderr[-3000:]
  t = rp.load(str(tmp_path / "synthetic_table.jsonl"))
  assert t.size == 240 and t.epochs == 30
  assert ("cutoff",) * 4 not in t.rows  # no graph whose target never learns
  budget = json.loads((tmp_path / "budget.json").read_text())
  assert sorted(budget) == ["random", "random+asha_g4"]
  assert budget["random"]["epochs_run"] == 6 * 30
  lines = (tmp_path / "traces.jsonl").read_text().splitlines()
  assert len(lines) == 6 and (tmp_path / "regret.png").stat().st_size > 0


def test_random_iid_draws_what_nevergrads_random_search_draws():
  """tune's proposer (Nevergrad RandomSearch + the feasibility constraint)
  is uniform over the table's graphs, with replacement: as random_iid."""
  t = rp.from_records(toy_records(np.linspace(0.1, 0.9, 9)))  # 1 of 10 out
  n = 270  # 30 per graph expected, sd 5.2
  for name in ("ng_random", "random_iid"):
    tr = rp.replay(t, rp.make(name, t, seed=2, budget=n),
                   np.random.default_rng(2), max_trials=n)
    counts = np.bincount(tr.rows, minlength=9)
    sd = math.sqrt(n / 9 * (1 - 1 / 9))
    assert np.all(np.abs(counts - n / 9) < 5 * sd), (name, counts)
    assert len(set(tr.rows[:20].tolist())) < 20  # repeats happen


def test_traces_round_trip(tmp_path):
  t = rp.from_records(toy_records(np.linspace(0.1, 0.9, 9), epochs=4))
  traces = {n: rp.replays(t, n, n=3, max_trials=6) for n in
            ("random", "random+asha")}
  back = rp.read_traces(rp.write_traces(str(tmp_path / "t.jsonl"), traces), t)
  assert sorted(back) == sorted(traces)
  for n, ts in traces.items():
    for a, b in zip(ts, back[n]):
      for f in rp.Trace._fields:
        np.testing.assert_allclose(getattr(a, f), getattr(b, f), atol=1e-6)
  # An older file without "incumbent": recomputed from rows and observed.
  lines = (tmp_path / "t.jsonl").read_text().splitlines()
  old = [json.dumps({k: v for k, v in json.loads(x).items()
                     if k != "incumbent"}) for x in lines]
  (tmp_path / "old.jsonl").write_text("\n".join(old) + "\n")
  again = rp.read_traces(str(tmp_path / "old.jsonl"), t)
  for n, ts in traces.items():
    for a, b in zip(ts, again[n]):
      assert a.incumbent.tolist() == b.incumbent.tolist()
