"""The ch.5 search on the one search path (Ray Tune + Nevergrad + ASHA):
digits, 5 labels per class, the FixMatch space with small_cnn, 3 trials of 2
evaluations (ASHA's rungs are evaluations), score = the better node; the best
graph is reported with that node as its target; a rerun restores."""

import json
import os
import tempfile

import numpy as np
import pytest
import ray

from ktg_jax import GraphSpec
from ktg_jax.search import progress
from ktg_jax.search import report
from ktg_jax.search import presets
from ktg_jax.search import trial
from ktg_jax.search import tune as st

JAX_CACHE = os.path.join(tempfile.gettempdir(), "ktg_semi_search_jax_cache")
EVALS, PER_CLASS, TRIALS = 2, 5, 3


def semi_config(output_dir):
  space = presets.fixmatch_space("small_cnn")._replace(ema_decay=0.9)
  settings = st.Settings(
      dataset="digits", limit=600, cache_dir=JAX_CACHE,
      labels_per_class=PER_CLASS, train=dict(
          epochs=EVALS, eval_every=4, batch_size=10, unlabeled_ratio=2,
          learning_rate=0.05, lr_schedule="cosine", lr_boundaries=(),
          eval_batch_size=256, labels_per_class=PER_CLASS,
          score=space.score))
  return st.SearchConfig(space=space, output_dir=str(output_dir),
                         num_trials=TRIALS, workers=1, epochs=EVALS,
                         settings=settings, seed=0)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
  ray.init(num_cpus=1, include_dashboard=False)
  sc = semi_config(tmp_path_factory.mktemp("semi_search"))
  grid = st.run(sc)
  trials = report.records(grid, sc.space, EVALS,
                          os.path.join(sc.output_dir, progress.EVENTS))
  paths = report.write_outputs(trials, sc.output_dir, title="semi")
  yield sc, grid, trials, paths
  ray.shutdown()


def test_semi_search_runs_end_to_end_and_reports_the_best_graph(finished):
  sc, grid, trials, paths = finished
  assert len(trials) == TRIALS and all(t.status != "error" for t in trials), \
      [t.reason for t in trials]
  assert any(t.epochs == EVALS for t in trials)
  by_id = {r.metrics["trial_id"]: r.metrics for r in grid}
  for t in trials:
    spec = GraphSpec.from_json(t.graph)
    assert spec.node_kinds() == ("trainable", "ema")  # a node + its EMA
    assert t.point.keys() == sc.space.parameters().keys()
    # score = the better of the two nodes, and the graph's target is it
    nodes = by_id[t.trial_id]["node_accuracy"]
    assert t.score == pytest.approx(max(nodes))
    assert spec.target == int(np.argmax(nodes))
  best = report.best(trials)
  assert best.score == max(t.score for t in trials if t.epochs == EVALS)
  assert GraphSpec.load(paths["best_json"]) == GraphSpec.from_json(best.graph)
  assert report.summary(trials, EVALS).startswith(f"{TRIALS} trials")
  # A rerun of the same search restores it: nothing is trained again.
  events = os.path.join(sc.output_dir, progress.EVENTS)
  count = lambda: sum(json.loads(l)["event"] == "start" for l in open(events))
  before = count()
  again = report.records(st.run(sc), sc.space, EVALS, events)
  assert count() == before
  assert [(t.trial_id, t.score) for t in again] == [
      (t.trial_id, t.score) for t in trials]


def test_semi_data_is_labelled_draw_with_a_sealed_test_split():
  settings = semi_config("/unused").settings
  data = trial.load_data(settings)  # pylint: disable=protected-access
  np.testing.assert_array_equal(np.bincount(data.labeled.labels,
                                            minlength=10), [PER_CLASS] * 10)
  with pytest.raises(Exception, match="sealed"):
    len(data.test)


def test_space_kind_and_labels_must_agree(tmp_path):
  sc = semi_config(tmp_path)
  with pytest.raises(st.SearchError, match="labels_per_class"):
    st.validate(sc._replace(settings=sc.settings._replace(
        labels_per_class=None)))
  with pytest.raises(st.SearchError, match="labels_per_class"):
    st.validate(sc._replace(space=presets.get("tiny", num_nodes=2)))
  with pytest.raises(ValueError, match="allowed"):
    st.validate(sc._replace(space={"not": "a space"}))
