"""Trial table, best-graph choice and uniform sampling (no Ray needed)."""

import json
import math

import numpy as np

from ktg_jax.search import report
from ktg_jax.search import presets
from ktg_jax.search import tune as st


def _trial(i, status, epochs, score):
  return report.TrialRecord(i, f"t{i}", status, epochs, score,
                            "boom" if status == "error" else "",
                            json.dumps({"nodes": ["small_cnn"], "edges": [
                                {"source": "label", "target": 0,
                                 "gate": "through"}]}), {"x": i})


def test_rungs_are_powers_of_two():
  assert [report.rung(e) for e in (0, 1, 2, 3, 4, 7, 8)] == [0, 1, 2, 2, 4, 4,
                                                               8]


def test_best_is_the_top_score_among_the_trials_that_got_furthest():
  trials = [_trial(1, "stopped", 1, 0.99), _trial(2, "completed", 4, 0.7),
            _trial(3, "completed", 4, 0.8), _trial(4, "error", 4, math.nan),
            _trial(5, "stopped", 2, 0.9)]
  assert report.best(trials).trial_id == "t3"
  text = report.summary(trials, 4)
  assert "2 ran all 4 epochs" in text and "1 failed" in text
  assert "{1: 1, 2: 1}" in text
  assert report.best([_trial(1, "error", 0, math.nan)]) is None


def test_table_round_trip(tmp_path):
  trials = [_trial(1, "completed", 4, 0.7), _trial(2, "error", 1, math.nan)]
  rows = report.read_table(report.write_table(trials, str(tmp_path / "t.csv")))
  assert [r["status"] for r in rows] == ["completed", "error"]
  assert rows[0]["rung"] == "4" and rows[1]["score"] == ""
  assert rows[1]["reason"] == "boom" and json.loads(rows[0]["point"]) == {
      "x": 1}


def test_random_search_samples_uniformly_and_feasibly():
  """docs/papers.md §4 random graphs: Nevergrad RandomSearch gives uniform gates and
  U[0, 1] Sine f; the constraint keeps every proposal a valid graph."""
  space = presets.get("ch3_sine", num_nodes=2)
  s = st.searcher(space, st.PROTOCOLS["asha"], num_trials=400, workers=1)
  s.set_search_properties(st.METRIC, "max", {})
  fs, models = [], []
  for i in range(400):
    point = s.suggest(str(i))
    space.to_spec(point)
    fs.append(point["f_1_0"])
    models.append(point["model_1"])
    s.on_trial_complete(str(i), {st.METRIC: 0.0})
  counts = np.histogram(fs, bins=4, range=(0, 1))[0]
  assert counts.min() > 60, counts
  assert set(models) == set(presets.CH3_MODELS)


def test_rungs_follow_the_grace_period_as_ashas_milestones_do(tmp_path):
  from ktg_jax.search import tune as st
  sched = st.scheduler(st.PROTOCOLS["asha"], 40, grace_period=10)
  milestones = sorted(m for m, _ in sched._brackets[0]._rungs)  # Ray's own
  assert [report.rung(m, 10) for m in milestones] == milestones
  assert report.rung(9, 10) == 0 and report.rung(39, 10) == milestones[-2]
  trials = [_trial(1, "stopped", milestones[0], 0.3),
            _trial(2, "stopped", milestones[1], 0.4),
            _trial(3, "completed", 40, 0.5)]
  text = report.summary(trials, 40, grace_period=10)
  assert f"{{{milestones[0]}: 1, {milestones[1]}: 1}}" in text
  rows = report.read_table(report.write_table(trials, str(tmp_path / "t.csv"),
                                              grace_period=10))
  assert [int(r["rung"]) for r in rows] == [milestones[0], milestones[1], 40]
